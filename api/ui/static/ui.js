// vanthu pages, live: the office's SSE feed says something changed; the page fetches itself again and
// swaps the regions marked data-live (a region holding the field the user is typing in is left alone).
(function () {
  "use strict";
  var url = document.body.getAttribute("data-feed");
  if (!url || !window.EventSource) return;
  var timer = null;
  var refreshes = 0;
  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Vanthu-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (region) {
          var next = fresh.getElementById(region.id);
          var typing = document.activeElement && document.activeElement !== document.body &&
            region.contains(document.activeElement) && /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName);
          if (next && !typing) region.innerHTML = next.innerHTML;
        });
        refreshes += 1;
        document.body.setAttribute("data-refreshes", String(refreshes));
        var note = document.getElementById("trang-thai-truc-tuyen");
        if (note) note.textContent = "Trang vừa được cập nhật.";
      })
      .catch(function () { /* the next change tries again */ });
  }
  var feed = new EventSource(url);
  feed.addEventListener("open", function () { document.body.setAttribute("data-live", "connected"); });
  feed.addEventListener("change", function () {
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
})();
