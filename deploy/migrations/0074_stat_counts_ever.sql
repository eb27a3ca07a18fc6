-- The `assignments` measure (which units a report lists) is kept on the day the projector writes for it,
-- Python's date.min, which asyncpg stores as -infinity; 0072 filled what rm held on 0001-01-01 instead.
-- What rm holds already, moved to that day.
UPDATE rm.stat_counts SET day = '-infinity' WHERE measure = 'assignments' AND day = DATE '0001-01-01';
