-- permaudit results store, schema version 1: one row per input in `apps`, the facts a
-- regulator joins on in normalised tables, everything else in apps.result (zlib JSON).
-- Applied in one transaction by permaudit.store; see docs/store.md.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,           -- created_by, created_at, migrated_by, migrated_at, migration.N
    value TEXT NOT NULL                 -- a permaudit version, a UTC time, a migration file name
);

CREATE TABLE apps (
    input_sha256      TEXT PRIMARY KEY,   -- the scan's key: file SHA-256, or a digest of a dex folder's files
    path              TEXT NOT NULL,      -- the path it was audited under (other names: table names)
    kind              TEXT NOT NULL,      -- apk, xapk, apks, apkm, dex, dex-folder
    status            TEXT NOT NULL,      -- complete, partial, failed
    sha256            TEXT,               -- result.hashes (NULL when the input could not be read)
    sha1              TEXT,               -- result.hashes
    md5               TEXT,               -- result.hashes
    size              INTEGER,            -- bytes
    package           TEXT,               -- NULL when no manifest was read
    version_code      TEXT,               -- android:versionCode as written
    version_name      TEXT,               -- android:versionName
    label             TEXT,               -- application label, resolved (hostile: escape before showing)
    min_sdk           INTEGER,            -- uses-sdk minSdkVersion
    target_sdk        INTEGER,            -- uses-sdk targetSdkVersion
    signer_sha256     TEXT,               -- base APK signer certificates' SHA-256, sorted, space-separated
    category          TEXT NOT NULL,      -- what the caller said: lending, auto or ''
    category_strength TEXT,               -- lending signal: none, weak, strong (NULL: not computed)
    lending           INTEGER NOT NULL,   -- 1 when lending-only verdicts applied
    policies          TEXT NOT NULL,      -- profiles that judged the findings, space-separated, in order
    contacts_reads    INTEGER NOT NULL,   -- contacts read sites (not counting repeats at wrapper calls)
    tool_version      TEXT NOT NULL,      -- permaudit version that audited it
    result_schema     TEXT NOT NULL,      -- AuditResult.schema_version
    seconds           REAL NOT NULL,      -- audit time
    audited_at        TEXT NOT NULL,      -- UTC, ISO 8601, when recorded
    result            BLOB NOT NULL       -- zlib(json.dumps(result.to_dict(), sort_keys=True))
);

CREATE TABLE names (
    path         TEXT PRIMARY KEY,        -- every path the bytes were seen under
    input_sha256 TEXT NOT NULL
);

CREATE TABLE certificates (
    input_sha256 TEXT NOT NULL REFERENCES apps(input_sha256),
    artifact     TEXT NOT NULL,           -- the APK it signs (the input, or base.apk / a split of a bundle)
    signer       INTEGER NOT NULL,        -- 1: signs the base APK (the one Android checks on install)
    sha256       TEXT NOT NULL,
    sha1         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    issuer       TEXT NOT NULL,
    serial       TEXT NOT NULL,
    not_before   TEXT NOT NULL,
    not_after    TEXT NOT NULL,
    schemes      TEXT NOT NULL            -- schemes under which it verifies, space-separated (v1 v2 v3)
);

CREATE TABLE permissions (
    input_sha256     TEXT NOT NULL REFERENCES apps(input_sha256),
    name             TEXT NOT NULL,
    element          TEXT NOT NULL,       -- uses-permission, uses-permission-sdk-23
    category         TEXT NOT NULL,       -- personal-data category it unlocks, '' if none
    protection_level TEXT NOT NULL,
    in_effect        INTEGER NOT NULL,
    device_api_min   INTEGER,
    device_api_max   INTEGER,
    max_sdk          INTEGER,
    defined_by       TEXT NOT NULL,
    count            INTEGER NOT NULL,
    split            TEXT NOT NULL,
    manifest         TEXT NOT NULL
);

CREATE TABLE read_sites (
    input_sha256 TEXT NOT NULL REFERENCES apps(input_sha256),
    site         INTEGER NOT NULL,        -- index in result.code.sites
    category     TEXT NOT NULL,           -- contacts, call_log, sms, ...
    kind         TEXT NOT NULL,           -- bulk, lookup, picker, loader, reflection, api
    dex          TEXT NOT NULL,
    class_name   TEXT NOT NULL,           -- Dalvik descriptor
    method       TEXT NOT NULL,
    descriptor   TEXT NOT NULL,
    offset       INTEGER NOT NULL,        -- 16-bit code units, as dexdump prints it
    api          TEXT NOT NULL,
    source       TEXT NOT NULL,
    owner        TEXT NOT NULL,           -- first-party, third-party, unknown
    sdk          TEXT NOT NULL,           -- library name when third-party
    prefix       TEXT NOT NULL,
    sdk_category TEXT NOT NULL,
    via          TEXT NOT NULL,           -- non-empty: a repeat at a call of an app wrapper
    bridge       INTEGER NOT NULL,
    PRIMARY KEY (input_sha256, site)
);

CREATE TABLE endpoints (
    input_sha256       TEXT NOT NULL REFERENCES apps(input_sha256),
    endpoint           INTEGER NOT NULL,  -- index in result.code.endpoints.endpoints
    value              TEXT NOT NULL,
    kind               TEXT NOT NULL,     -- url, host, ip
    scheme             TEXT NOT NULL,
    host               TEXT NOT NULL,
    port               INTEGER,
    path               TEXT NOT NULL,
    registrable_domain TEXT NOT NULL,     -- as the endpoint stage computed it; '' for IPs
    owner              TEXT NOT NULL,     -- app, third-party, unknown
    service            TEXT NOT NULL,
    service_category   TEXT NOT NULL,
    ip_scope           TEXT,              -- public, private, loopback, link-local, reserved; NULL: not an IP
    cleartext          INTEGER NOT NULL,
    source_count       INTEGER NOT NULL,
    PRIMARY KEY (input_sha256, endpoint)
);

CREATE TABLE paths (
    input_sha256     TEXT NOT NULL REFERENCES apps(input_sha256),
    site             INTEGER,             -- read_sites.site of the read, NULL if not matched
    category         TEXT NOT NULL,
    read_dex         TEXT NOT NULL,
    read_class       TEXT NOT NULL,
    read_method      TEXT NOT NULL,
    read_descriptor  TEXT NOT NULL,
    read_offset      INTEGER NOT NULL,
    outcome          TEXT NOT NULL,       -- path, co-located, no-sink-reached, cut, not-searched
    path_no          INTEGER,             -- index of the path for this read; NULL: no path
    confidence       TEXT,                -- same-method, direct-call, within-calls, co-located
    calls            INTEGER,
    sink_api         TEXT,
    sink_kind        TEXT,                -- network, sms, mail, firebase, websocket, webview, socket
    sink_role        TEXT,
    sink_class       TEXT,
    sink_method      TEXT,
    sink_offset      INTEGER,
    dest_url         TEXT,                -- an endpoint named on the path; NULL: none
    dest_host        TEXT,
    dest_domain      TEXT,
    dest_owner       TEXT,
    dest_ip_scope    TEXT
);

CREATE TABLE findings (
    input_sha256 TEXT NOT NULL REFERENCES apps(input_sha256),
    finding      INTEGER NOT NULL,        -- index in result.findings
    policy       TEXT NOT NULL,
    rule         TEXT NOT NULL,           -- finding type id, contacts.bulk-read
    category     TEXT NOT NULL,
    severity     TEXT NOT NULL,           -- info, warning, violation
    confidence   TEXT NOT NULL,           -- low, medium, high
    clauses      TEXT NOT NULL,           -- clause ids, space-separated, in the order cited
    message      TEXT NOT NULL,
    PRIMARY KEY (input_sha256, finding)
);

CREATE TABLE finding_clauses (
    input_sha256 TEXT NOT NULL REFERENCES apps(input_sha256),
    finding      INTEGER NOT NULL,
    policy       TEXT NOT NULL,
    clause       TEXT NOT NULL,
    severity     TEXT NOT NULL
);

CREATE TABLE verdicts (
    input_sha256 TEXT NOT NULL REFERENCES apps(input_sha256),
    policy       TEXT NOT NULL,
    severity     TEXT NOT NULL,           -- worst finding: violation, warning, info; 'none' when no finding
    findings     INTEGER NOT NULL,
    PRIMARY KEY (input_sha256, policy)
);

CREATE TABLE problems (
    input_sha256 TEXT NOT NULL REFERENCES apps(input_sha256),
    code         TEXT NOT NULL,
    severity     TEXT NOT NULL,           -- note, partial, failed
    member       TEXT NOT NULL,
    message      TEXT NOT NULL
);

CREATE INDEX certificates_app ON certificates(input_sha256);
CREATE INDEX permissions_app ON permissions(input_sha256);
CREATE INDEX paths_app ON paths(input_sha256);
CREATE INDEX finding_clauses_app ON finding_clauses(input_sha256);
CREATE INDEX problems_app ON problems(input_sha256);
CREATE INDEX names_input ON names(input_sha256);
