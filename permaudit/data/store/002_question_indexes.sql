-- Schema version 2: indexes on what the cross-app questions (questions.json) group and join
-- on, so they stay fast over a corpus of thousands of apps. Adds no column: a version-1
-- store keeps every row.

CREATE INDEX certificates_sha256 ON certificates(sha256, signer);
CREATE INDEX endpoints_host ON endpoints(host);
CREATE INDEX endpoints_domain ON endpoints(registrable_domain);
CREATE INDEX paths_dest_host ON paths(dest_host);
CREATE INDEX paths_dest_domain ON paths(dest_domain);
CREATE INDEX read_sites_sdk ON read_sites(sdk, category);
CREATE INDEX finding_clauses_clause ON finding_clauses(policy, clause);
CREATE INDEX verdicts_policy ON verdicts(policy, severity);
CREATE INDEX apps_package ON apps(package);
