"""The ground floor: settings, the one way to connect to PostgreSQL, and the offices.

Every layer imports from here; nothing here imports producers, processors or api.
"""
