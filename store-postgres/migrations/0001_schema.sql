-- Tessera storage schema, version 1.
--
-- Each customer table is keyed by the customer id first, the partner table by the partner id,
-- and the two lookup indexes (identifiers, pseudonyms) by the value they make unique. No
-- statement the store runs writes rows of two customers' ledgers, profiles or tokens. The
-- crate documentation lists what here is specific to PostgreSQL.

-- One append-only stream per customer. `seq` runs 1, 2, 3, … without gaps: the primary key
-- is what makes optimistic concurrency work (two writers of the same seq cannot both land).
CREATE TABLE customer_ledger (
    customer_id uuid   NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 1),
    hash        bytea  NOT NULL CHECK (octet_length(hash) = 32),
    entry       jsonb  NOT NULL,
    PRIMARY KEY (customer_id, seq)
);

-- The ecosystem's own stream (partners, declarations, catalog, governance): one per database.
CREATE TABLE ecosystem_ledger (
    seq          bigint NOT NULL CHECK (seq >= 1) PRIMARY KEY,
    ecosystem_id text   NOT NULL,
    hash         bytea  NOT NULL CHECK (octet_length(hash) = 32),
    entry        jsonb  NOT NULL
);

-- Identifier -> customer. `identifier` is the identifier's JSON form, e.g.
-- {"kind":"email","address":"ada@example.com"}; raw values live only here (erasable).
CREATE TABLE identifiers (
    identifier  text NOT NULL PRIMARY KEY,
    customer_id uuid NOT NULL
);
CREATE INDEX identifiers_by_customer ON identifiers (customer_id);

-- Merge aliases: absorbed customer -> survivor (one hop).
CREATE TABLE aliases (
    absorbed_id uuid NOT NULL PRIMARY KEY,
    survivor_id uuid NOT NULL,
    CHECK (absorbed_id <> survivor_id)
);

CREATE TABLE profiles (
    customer_id uuid  NOT NULL PRIMARY KEY,
    profile     jsonb NOT NULL
);

-- The projection of the ecosystem ledger the decision rule reads, with a version for
-- optimistic concurrency. `record` is the partner's JSON form, its version included.
CREATE TABLE partners (
    partner_id uuid   NOT NULL PRIMARY KEY,
    version    bigint NOT NULL CHECK (version >= 0),
    record     jsonb  NOT NULL
);

-- (sector, pseudonym) -> customer.
CREATE TABLE pseudonyms (
    sector      text NOT NULL,
    pseudonym   text NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (sector, pseudonym)
);
CREATE INDEX pseudonyms_by_customer ON pseudonyms (customer_id);

-- Issued capability tokens. Times are kept to the microsecond.
CREATE TABLE tokens (
    customer_id     uuid        NOT NULL,
    token_no        bigint      GENERATED ALWAYS AS IDENTITY,
    partner_id      uuid        NOT NULL,
    consent_version bigint      NOT NULL,
    revocation_ids  text[]      NOT NULL,
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked         boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (customer_id, token_no)
);
-- For suspension: a partner's unrevoked tokens, whoever the customer.
CREATE INDEX tokens_unrevoked_by_partner ON tokens (partner_id, customer_id) WHERE NOT revoked;

-- The revocation feed. Cursors are handed out under a transaction-scoped advisory lock, so
-- they become visible in cursor order and a reader paging by cursor never skips one.
CREATE TABLE revocations (
    cursor        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    revocation_id text        NOT NULL,
    partner_id    uuid        NOT NULL,
    customer_id   uuid        NOT NULL,
    expires_at    timestamptz NOT NULL
);
