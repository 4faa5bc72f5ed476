-- Ledger entries kept as the bytes their hash is taken over.
--
-- An entry's hash is SHA-256 of its canonical JSON (RFC 8785, without the hash). Entries
-- written from this version on keep exactly those bytes in `body` (`bytea`, so that no
-- server or driver rewrites them) and no `entry`; a reader checks SHA-256 of `body` against
-- `hash`, which proves the entry is the hashed one without encoding it again. Rows written
-- before keep their `entry` text, and are read and re-hashed as before. Every row holds one
-- of the two.
--
-- To look inside a new entry in SQL: `convert_from(body, 'UTF8')::json`.
--
-- Adding the columns and the constraint changes only the catalog: the constraint is added
-- NOT VALID, so rows already present are not scanned (each holds an `entry` and no `body`,
-- which satisfies it); rows written from now on are checked.
ALTER TABLE customer_ledger
    ADD COLUMN body bytea,
    ALTER COLUMN entry DROP NOT NULL,
    ADD CONSTRAINT customer_ledger_entry_or_body
        CHECK ((entry IS NULL) <> (body IS NULL)) NOT VALID;
ALTER TABLE ecosystem_ledger
    ADD COLUMN body bytea,
    ALTER COLUMN entry DROP NOT NULL,
    ADD CONSTRAINT ecosystem_ledger_entry_or_body
        CHECK ((entry IS NULL) <> (body IS NULL)) NOT VALID;
