-- Ledger entries as `json` (their text as written) instead of `jsonb`.
--
-- A check that misses the facade's cache reads a customer's whole stream, and turning each
-- entry from jsonb's binary form back into text was the largest part of the server's work
-- for that read; `json` keeps the text the store was given, so reading it is a copy. Nothing
-- queries inside an entry: the store only writes and reads entries whole, and the hash is
-- taken over the entry's canonical form, not over the stored text. The store still refuses
-- what jsonb refused (a NUL character in a string) before it writes, so the change is
-- invisible to callers.
--
-- On a database that holds entries already, this rewrites both ledger tables under an
-- exclusive lock.
ALTER TABLE customer_ledger ALTER COLUMN entry TYPE json USING entry::json;
ALTER TABLE ecosystem_ledger ALTER COLUMN entry TYPE json USING entry::json;
