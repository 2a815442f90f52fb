// The Director's SQLite schema (docs/uptane-conformance.md 2 and 9.4): vehicles and ECUs with their
// public keys, manifests received (history), report counters, installed images, assignments and
// their states, attacks reported, per-vehicle signed metadata, operator tokens, campaigns and groups,
// signed-request marks, and an audit log.

/** The schema, one numbered migration each (exported for the migration tests). */
export const MIGRATIONS = [
  `CREATE TABLE vehicles (
     vin TEXT PRIMARY KEY,
     attributes TEXT NOT NULL DEFAULT '{}',
     registered_at TEXT NOT NULL
   );
   CREATE TABLE ecus (
     serial TEXT PRIMARY KEY,
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     hardware_id TEXT NOT NULL,
     public_key TEXT NOT NULL,
     keyid TEXT NOT NULL UNIQUE,
     is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
     registered_at TEXT NOT NULL,
     last_counter INTEGER,
     installed_filename TEXT,
     installed_length INTEGER,
     installed_hashes TEXT,
     installed_release_counter INTEGER,
     reported_at TEXT
   );
   CREATE INDEX ecus_by_vin ON ecus(vin);
   CREATE UNIQUE INDEX one_primary_per_vehicle ON ecus(vin) WHERE is_primary = 1;
   CREATE TABLE assignments (
     id INTEGER PRIMARY KEY,
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     ecu_serial TEXT NOT NULL REFERENCES ecus(serial) ON DELETE CASCADE,
     filename TEXT NOT NULL,
     length INTEGER NOT NULL,
     hashes TEXT NOT NULL,
     hardware_id TEXT NOT NULL,
     release_counter INTEGER NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'installed', 'failed', 'cancelled')),
     reason TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     created_by TEXT NOT NULL
   );
   CREATE UNIQUE INDEX one_active_assignment_per_ecu ON assignments(ecu_serial) WHERE state IN ('pending', 'in_flight');
   CREATE INDEX assignments_by_vin ON assignments(vin, state);
   CREATE TABLE manifests (
     id INTEGER PRIMARY KEY,
     vin TEXT,
     received_at TEXT NOT NULL,
     accepted INTEGER NOT NULL,
     error_code TEXT,
     error_message TEXT,
     body BLOB
   );
   CREATE INDEX manifests_by_vin ON manifests(vin, id);
   CREATE TABLE attacks (
     id INTEGER PRIMARY KEY,
     vin TEXT NOT NULL,
     ecu_serial TEXT NOT NULL,
     code TEXT NOT NULL,
     message TEXT NOT NULL,
     reported_at TEXT NOT NULL
   );
   CREATE INDEX attacks_by_vin ON attacks(vin, id);
   CREATE TABLE vehicle_metadata (
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     role TEXT NOT NULL CHECK (role IN ('targets', 'snapshot', 'timestamp')),
     version INTEGER NOT NULL,
     expires TEXT NOT NULL,
     content_sha256 TEXT NOT NULL,
     bytes BLOB NOT NULL,
     PRIMARY KEY (vin, role)
   );
   CREATE TABLE director_roots (
     version INTEGER PRIMARY KEY,
     bytes BLOB NOT NULL,
     published_at TEXT NOT NULL
   );
   CREATE TABLE operator_tokens (
     name TEXT PRIMARY KEY,
     token_sha256 TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL
   );
   CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     details TEXT NOT NULL
   );`,
  // 2: campaigns (staged rollouts), vehicle groups, and what each vehicle last said about its state.
  `ALTER TABLE vehicles ADD COLUMN last_state TEXT;
   ALTER TABLE assignments ADD COLUMN campaign_id INTEGER;
   CREATE INDEX assignments_by_campaign ON assignments(campaign_id, state);
   CREATE TABLE vehicle_groups (
     name TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('static', 'dynamic')),
     filter TEXT,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL
   );
   CREATE TABLE group_members (
     group_name TEXT NOT NULL REFERENCES vehicle_groups(name) ON DELETE CASCADE,
     vin TEXT NOT NULL,
     PRIMARY KEY (group_name, vin)
   );
   CREATE TABLE campaigns (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     group_name TEXT NOT NULL REFERENCES vehicle_groups(name),
     spec TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'completed', 'aborted')),
     stage INTEGER NOT NULL DEFAULT 0,
     stage_started_at TEXT,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE campaign_vehicles (
     campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
     vin TEXT NOT NULL,
     rank TEXT NOT NULL,
     stage INTEGER,
     outcome TEXT,
     PRIMARY KEY (campaign_id, vin)
   );
   CREATE INDEX campaign_vehicles_by_rank ON campaign_vehicles(campaign_id, rank);
   CREATE TABLE campaign_events (
     id INTEGER PRIMARY KEY,
     campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     kind TEXT NOT NULL,
     details TEXT NOT NULL
   );`,
  // 3: a vehicle's targets marked for re-signing when its assignments change; signed on its next read.
  `ALTER TABLE vehicle_metadata ADD COLUMN stale INTEGER NOT NULL DEFAULT 0;`,
  // 4: refused manifests apart from accepted ones, with a digest and an excerpt instead of the whole
  // body (docs/threat-model.md HR-4). Their ids continue the accepted ones' sequence (manifests.ts,
  // NEXT_MANIFEST_ID), so the operator's merged view keeps the order they arrived in.
  `CREATE TABLE refused_manifests (
     id INTEGER PRIMARY KEY,
     vin TEXT NOT NULL,
     received_at TEXT NOT NULL,
     error_code TEXT NOT NULL,
     error_message TEXT NOT NULL,
     body_length INTEGER NOT NULL,
     body_sha256 TEXT,
     excerpt BLOB NOT NULL
   );
   CREATE INDEX refused_manifests_by_vin ON refused_manifests(vin, id);
   INSERT INTO refused_manifests (id, vin, received_at, error_code, error_message, body_length, body_sha256, excerpt)
     SELECT id, coalesce(vin, ''), received_at, coalesce(error_code, 'unknown'), substr(coalesce(error_message, ''), 1, 1024),
            coalesce(length(body), 0), NULL, coalesce(substr(body, 1, 2048), x'')
       FROM manifests WHERE accepted = 0;
   DELETE FROM manifests WHERE accepted = 0;`,
  // HR-10: operator tokens get a public id (the first 12 hex digits of their SHA-256), a scope, an
  // expiry and revocation, and audit entries name the token used (docs/threat-model.md HR-10). Tokens
  // made before keep working as admin for 90 days from this upgrade; a name may have several tokens
  // over time (revoked ones stay, so they answer token_revoked rather than unauthorized).
  `CREATE TABLE operator_tokens_v2 (
     token_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     token_sha256 TEXT NOT NULL UNIQUE,
     scope TEXT NOT NULL CHECK (scope IN ('read', 'operator', 'admin')),
     created_at TEXT NOT NULL,
     expires_at TEXT,
     revoked_at TEXT
   );
   INSERT INTO operator_tokens_v2 (token_id, name, token_sha256, scope, created_at, expires_at)
     SELECT substr(token_sha256, 1, 12), name, token_sha256, 'admin', created_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+90 days')
     FROM operator_tokens;
   DROP TABLE operator_tokens;
   ALTER TABLE operator_tokens_v2 RENAME TO operator_tokens;
   CREATE INDEX operator_tokens_by_name ON operator_tokens(name);
   ALTER TABLE audit_log ADD COLUMN token_id TEXT;`,
  // HR-9a: per primary ECU key, the newest signed-request time accepted (ms since the epoch), so that
  // a restarted Director refuses every header accepted before (signed-request-marks.ts).
  `CREATE TABLE signed_request_marks (
     keyid TEXT PRIMARY KEY,
     newest_ms INTEGER NOT NULL
   ) WITHOUT ROWID;`,
  // 7: per-ECU image encryption (docs/image-encryption.md). An ECU's optional X25519 encryption
  // public key (one ECU per key); an assignment's encryption for its ECU as the targets list it (the
  // wrapped content key and the ciphertext), NULL when not encrypted; and each image's ciphertext,
  // made once per image under a content key that is a Director secret (the file is 0600 in a 0700
  // folder). Existing ECUs and assignments get NULL: unencrypted, as before.
  `ALTER TABLE ecus ADD COLUMN encryption_public_key TEXT;
   CREATE UNIQUE INDEX ecus_by_encryption_key ON ecus(encryption_public_key) WHERE encryption_public_key IS NOT NULL;
   ALTER TABLE assignments ADD COLUMN encryption TEXT;
   CREATE TABLE encrypted_images (
     ciphertext_sha256 TEXT PRIMARY KEY,
     filename TEXT NOT NULL,
     plaintext_sha256 TEXT NOT NULL,
     plaintext_length INTEGER NOT NULL,
     content_key TEXT NOT NULL,
     ciphertext_length INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE UNIQUE INDEX encrypted_image_per_plaintext ON encrypted_images(filename, plaintext_sha256);`,
  // 8: the alerts outbox (store/alerts.ts; docs/decisions.md "Alerts outbox"): each alert once (its
  // dedupe key), a delivery per webhook with its state and next attempt, and every attempt's outcome.
  `CREATE TABLE alerts (
     id INTEGER PRIMARY KEY,
     event TEXT NOT NULL,
     dedupe_key TEXT UNIQUE,
     body TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE alert_deliveries (
     id INTEGER PRIMARY KEY,
     alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
     delivery_id TEXT NOT NULL UNIQUE,
     url TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TEXT,
     claimed_until TEXT,
     last_status INTEGER,
     last_error TEXT,
     delivered_at TEXT
   );
   CREATE INDEX alert_deliveries_due ON alert_deliveries(state, next_attempt_at);
   CREATE INDEX alert_deliveries_by_alert ON alert_deliveries(alert_id);
   CREATE TABLE alert_attempts (
     id INTEGER PRIMARY KEY,
     delivery_row INTEGER NOT NULL REFERENCES alert_deliveries(id) ON DELETE CASCADE,
     attempt INTEGER NOT NULL,
     at TEXT NOT NULL,
     status INTEGER,
     error TEXT,
     next_attempt_at TEXT
   );
   CREATE INDEX alert_attempts_by_delivery ON alert_attempts(delivery_row, attempt);`,
  // 9: the web dashboard (docs/dashboard.md): attacks and refused manifests counted by time, the
  // audit log filtered by actor or action, and a bounded series of fleet-state snapshots for the
  // overview's chart (written by the server on a timer, the newest kept).
  `CREATE INDEX attacks_by_time ON attacks(reported_at);
   CREATE INDEX refused_manifests_by_time ON refused_manifests(received_at);
   CREATE INDEX audit_log_by_actor ON audit_log(actor, id);
   CREATE INDEX audit_log_by_action ON audit_log(action, id);
   CREATE TABLE fleet_snapshots (
     at TEXT PRIMARY KEY,
     by_state TEXT NOT NULL
   ) WITHOUT ROWID;`,
  // 10: each vehicle's fleet state stored (docs/dashboard.md "Fleet states at scale"), so the
  // overview counts and the list pages by index instead of deriving every vehicle's state per
  // request (seconds at 1,000,000 vehicles). fleet_state is the state fleetStateSql gives a vehicle
  // that is not stale; last_seen is its primary's last report, or its registration. Stale depends
  // on the clock, so it is never stored: the reads take last_seen < cutoff as stale. Triggers keep
  // both in the transaction of every write to their inputs, whichever store code makes it; the
  // store contract holds them to fleetStateSql after every kind of event.
  `ALTER TABLE vehicles ADD COLUMN fleet_state TEXT NOT NULL DEFAULT 'up_to_date';
   ALTER TABLE vehicles ADD COLUMN last_seen TEXT;
   ${refreshFleetState10('vin IS NOT NULL')}
   CREATE INDEX vehicles_by_fleet_state ON vehicles(fleet_state, vin, last_seen);
   CREATE INDEX vehicles_by_last_seen ON vehicles(last_seen);
   CREATE TRIGGER vehicles_inserted_last_seen AFTER INSERT ON vehicles WHEN NEW.last_seen IS NULL
   BEGIN UPDATE vehicles SET last_seen = NEW.registered_at WHERE rowid = NEW.rowid; END;
   CREATE TRIGGER vehicles_state_changed AFTER UPDATE OF last_state, registered_at ON vehicles
   BEGIN ${refreshFleetState10('vin = NEW.vin')} END;
   CREATE TRIGGER ecus_inserted_fleet_state AFTER INSERT ON ecus WHEN NEW.is_primary = 1
   BEGIN ${refreshFleetState10('vin = NEW.vin')} END;
   CREATE TRIGGER ecus_reported_fleet_state AFTER UPDATE OF reported_at, is_primary, vin ON ecus WHEN NEW.is_primary = 1 OR OLD.is_primary = 1
   BEGIN ${refreshFleetState10('vin IN (OLD.vin, NEW.vin)')} END;
   CREATE TRIGGER ecus_deleted_fleet_state AFTER DELETE ON ecus WHEN OLD.is_primary = 1
   BEGIN ${refreshFleetState10('vin = OLD.vin')} END;
   CREATE TRIGGER assignments_inserted_fleet_state AFTER INSERT ON assignments
   BEGIN ${refreshFleetState10('vin = NEW.vin')} END;
   CREATE TRIGGER assignments_changed_fleet_state AFTER UPDATE OF state, reason, updated_at, vin ON assignments
   BEGIN ${refreshFleetState10('vin IN (OLD.vin, NEW.vin)')} END;
   CREATE TRIGGER assignments_deleted_fleet_state AFTER DELETE ON assignments
   BEGIN ${refreshFleetState10('vin = OLD.vin')} END;`,
  // 11: dashboard sessions signed out (store/ui-sessions.ts), each kept until its cookie would have
  // expired, and an index for pruning the alerts outbox's finished alerts by age (store/alerts.ts).
  `CREATE TABLE ui_session_revocations (
     session_id TEXT PRIMARY KEY,
     expires_ms INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX ui_session_revocations_by_expiry ON ui_session_revocations(expires_ms);
   CREATE INDEX alerts_by_time ON alerts(created_at);`,
  // 12: the fleet's states counted as they change (docs/dashboard.md "Fleet states at scale"): how
  // many vehicles hold each fleet_state, kept by triggers on vehicles, so the overview reads eight
  // rows and subtracts the stale ones (a range of last_seen, with fleet_state in the index) instead
  // of counting the whole fleet. SQLite has one writer, so the eight hot rows cost no contention.
  `CREATE TABLE fleet_state_totals (
     state TEXT PRIMARY KEY,
     n INTEGER NOT NULL
   ) WITHOUT ROWID;
   INSERT INTO fleet_state_totals (state, n) SELECT fleet_state, COUNT(*) FROM vehicles GROUP BY fleet_state;
   CREATE TRIGGER fleet_state_totals_inserted AFTER INSERT ON vehicles
   BEGIN INSERT INTO fleet_state_totals (state, n) VALUES (NEW.fleet_state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1; END;
   CREATE TRIGGER fleet_state_totals_changed AFTER UPDATE OF fleet_state ON vehicles WHEN OLD.fleet_state IS NOT NEW.fleet_state
   BEGIN
     UPDATE fleet_state_totals SET n = n - 1 WHERE state = OLD.fleet_state;
     INSERT INTO fleet_state_totals (state, n) VALUES (NEW.fleet_state, 1) ON CONFLICT (state) DO UPDATE SET n = n + 1;
   END;
   CREATE TRIGGER fleet_state_totals_deleted AFTER DELETE ON vehicles
   BEGIN UPDATE fleet_state_totals SET n = n - 1 WHERE state = OLD.fleet_state; END;
   DROP INDEX vehicles_by_last_seen;
   CREATE INDEX vehicles_by_last_seen ON vehicles(last_seen, fleet_state);`,
  // 13: each campaign vehicle's standing stored (docs/dashboard.md "Campaigns at scale"): the outcome
  // campaign-status.ts vehicleStanding gives it (unstaged, skipped, pending, downloading, installed,
  // failed, cancelled), its reason, deferred while driving, rolled back and the skip's code, kept by
  // triggers in the transaction of every write to their inputs (its stage and skip, the campaign's
  // assignments of the vehicle, the vehicle's last_state); and the counts per (campaign, stage,
  // standing, skip code) kept beside them, so a campaign's status, its vehicle pages, retry and the
  // engine's stage checks read counts and index ranges instead of every vehicle of the campaign.
  // Unstaged vehicles count under stage -1. The store contract holds them to vehicleStanding.
  // The index comes first: the backfill and every trigger find a campaign vehicle's assignments
  // by (campaign, VIN, ECU); without it they read the campaign's whole range of assignments_by_campaign,
  // so the backfill grew with the square of the campaign (80 s at 20,000 vehicles) and each
  // assignment write with the campaign (1.6 ms at 10,000 against 0.03 ms with it).
  `CREATE INDEX IF NOT EXISTS assignments_by_campaign_vehicle ON assignments(campaign_id, vin, ecu_serial, id);
   ALTER TABLE campaign_vehicles ADD COLUMN standing TEXT NOT NULL DEFAULT 'unstaged';
   ALTER TABLE campaign_vehicles ADD COLUMN standing_reason TEXT;
   ALTER TABLE campaign_vehicles ADD COLUMN deferred_while_driving INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE campaign_vehicles ADD COLUMN rolled_back INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE campaign_vehicles ADD COLUMN skip_code TEXT NOT NULL DEFAULT '';
   ${refreshCampaignStanding13('campaign_id IS NOT NULL')}
   CREATE INDEX campaign_vehicles_by_stage_standing ON campaign_vehicles(campaign_id, stage, standing, vin);
   CREATE INDEX campaign_vehicles_by_standing ON campaign_vehicles(campaign_id, standing, vin);
   CREATE INDEX campaign_vehicles_by_stage ON campaign_vehicles(campaign_id, stage, vin);
   CREATE INDEX campaign_vehicles_unstaged ON campaign_vehicles(campaign_id, rank) WHERE stage IS NULL;
   CREATE INDEX campaign_vehicles_by_vin ON campaign_vehicles(vin);
   CREATE TABLE campaign_stage_totals (
     campaign_id INTEGER NOT NULL,
     stage INTEGER NOT NULL,
     standing TEXT NOT NULL,
     skip_code TEXT NOT NULL,
     vehicles INTEGER NOT NULL,
     deferred_while_driving INTEGER NOT NULL,
     rolled_back INTEGER NOT NULL,
     PRIMARY KEY (campaign_id, stage, standing, skip_code)
   ) WITHOUT ROWID;
   INSERT INTO campaign_stage_totals (campaign_id, stage, standing, skip_code, vehicles, deferred_while_driving, rolled_back)
     SELECT campaign_id, coalesce(stage, -1), standing, skip_code, COUNT(*), SUM(deferred_while_driving), SUM(rolled_back) FROM campaign_vehicles GROUP BY 1, 2, 3, 4;

   CREATE TRIGGER campaign_vehicles_inserted_standing AFTER INSERT ON campaign_vehicles
     WHEN NEW.stage IS NOT NULL OR NEW.standing IS NOT 'unstaged' OR NEW.standing_reason IS NOT NULL OR NEW.deferred_while_driving IS NOT 0 OR NEW.rolled_back IS NOT 0 OR NEW.skip_code IS NOT ''
   BEGIN ${refreshCampaignStanding13('rowid = NEW.rowid')} END;
   CREATE TRIGGER campaign_vehicles_staged_standing AFTER UPDATE OF stage, outcome, campaign_id, vin ON campaign_vehicles
   BEGIN ${refreshCampaignStanding13('rowid = NEW.rowid')} END;
   CREATE TRIGGER assignments_inserted_campaign_standing AFTER INSERT ON assignments WHEN NEW.campaign_id IS NOT NULL
   BEGIN ${refreshCampaignStanding13('campaign_id = NEW.campaign_id AND vin = NEW.vin')} END;
   CREATE TRIGGER assignments_changed_campaign_standing AFTER UPDATE OF state, reason, campaign_id, vin, ecu_serial ON assignments
     WHEN OLD.campaign_id IS NOT NULL OR NEW.campaign_id IS NOT NULL
   BEGIN ${refreshCampaignStanding13('(campaign_id = OLD.campaign_id AND vin = OLD.vin) OR (campaign_id = NEW.campaign_id AND vin = NEW.vin)')} END;
   CREATE TRIGGER assignments_deleted_campaign_standing AFTER DELETE ON assignments WHEN OLD.campaign_id IS NOT NULL
   BEGIN ${refreshCampaignStanding13('campaign_id = OLD.campaign_id AND vin = OLD.vin')} END;
   -- last_state only decides deferred while driving, which only pending and downloading vehicles are.
   CREATE TRIGGER vehicles_driving_campaign_standing AFTER UPDATE OF last_state ON vehicles WHEN OLD.last_state IS NOT NEW.last_state
   BEGIN ${refreshCampaignStanding13("vin = NEW.vin AND standing IN ('pending', 'downloading')")} END;

   CREATE TRIGGER campaign_stage_totals_inserted AFTER INSERT ON campaign_vehicles
   BEGIN ${campaignTotals13('NEW', 1)} END;
   CREATE TRIGGER campaign_stage_totals_changed AFTER UPDATE OF campaign_id, stage, standing, skip_code, deferred_while_driving, rolled_back ON campaign_vehicles
     WHEN OLD.campaign_id IS NOT NEW.campaign_id OR OLD.stage IS NOT NEW.stage OR OLD.standing IS NOT NEW.standing OR OLD.skip_code IS NOT NEW.skip_code
       OR OLD.deferred_while_driving IS NOT NEW.deferred_while_driving OR OLD.rolled_back IS NOT NEW.rolled_back
   BEGIN ${campaignTotals13('OLD', -1)} ${campaignTotals13('NEW', 1)} END;
   CREATE TRIGGER campaign_stage_totals_deleted AFTER DELETE ON campaign_vehicles
   BEGIN ${campaignTotals13('OLD', -1)} END;`,
  // 14: install bundles (docs/decisions.md "Install bundles"): several ECUs of one vehicle whose
  // assignments install all or none. The bundle's outcome is recorded once, as one row: installed,
  // or rolled back with the member that failed and why; each member assignment names its bundle.
  `CREATE TABLE install_bundles (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     vin TEXT NOT NULL REFERENCES vehicles(vin) ON DELETE CASCADE,
     campaign_id INTEGER,
     state TEXT NOT NULL CHECK (state IN ('pending', 'installed', 'rolled_back', 'cancelled')),
     failing_ecu TEXT,
     reason TEXT,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX install_bundles_by_vin ON install_bundles(vin, state);
   ALTER TABLE assignments ADD COLUMN bundle_id INTEGER REFERENCES install_bundles(id);
   CREATE INDEX assignments_by_bundle ON assignments(bundle_id) WHERE bundle_id IS NOT NULL;`,
  // 15: each ECU's security profile (docs/security-profiles.md), the lowest image minimum it meets.
  // ECUs registered before profiles existed are 'standard' (DEFAULT_SECURITY_PROFILE), what every
  // ECU of the reference implementation does: full verification, an asymmetric key, two slots.
  `ALTER TABLE ecus ADD COLUMN security_profile TEXT NOT NULL DEFAULT 'standard' CHECK (security_profile IN ('basic', 'standard', 'high'));`,
];

/**
 * Migration 10's statement that sets fleet_state and last_seen of the vehicles `where` selects:
 * fleetStateSql (../dashboard.ts) without its stale case, as it stood when the migration shipped.
 * Part of a shipped migration: never edit it; a later change of the rules is a new migration that
 * drops and recreates the triggers (the store contract fails until it does).
 */
function refreshFleetState10(where: string): string {
  const active = (states: string, extra = '') => `EXISTS (SELECT 1 FROM assignments a WHERE a.vin = vehicles.vin AND a.state IN (${states})${extra})`;
  const primaryReport = '(SELECT e.reported_at FROM ecus e WHERE e.vin = vehicles.vin AND e.is_primary = 1)';
  return `UPDATE vehicles SET
     last_seen = coalesce(${primaryReport}, registered_at),
     fleet_state = CASE
       WHEN last_state = 'driving' AND ${active("'pending', 'in_flight'")} THEN 'deferred'
       WHEN ${active("'in_flight'", ` AND a.updated_at < ${primaryReport}`)} THEN 'installing'
       WHEN ${active("'in_flight'")} THEN 'downloading'
       WHEN ${active("'pending'")} THEN 'pending'
       ELSE coalesce((SELECT CASE WHEN a.state = 'failed' AND a.reason LIKE 'rolled_back%' THEN 'rolled_back' WHEN a.state = 'failed' THEN 'failed' END
                        FROM assignments a WHERE a.vin = vehicles.vin AND a.state IN ('installed', 'failed') ORDER BY a.id DESC LIMIT 1), 'up_to_date')
     END
   WHERE ${where};`;
}

/**
 * Migration 13's statement that sets the stored standing of the campaign vehicles `where` selects:
 * campaign-status.ts vehicleStanding in SQL, as it stood when the migration shipped. Each ECU counts
 * by its newest assignment of the campaign (highest id), and "the first" failed or cancelled one is
 * the ECU whose first assignment of the campaign came first, as the Map in vehicleStanding orders
 * them. A skip's reason loses its "skipped:" and the ASCII blanks after it (vehicleStanding's \s;
 * the engine writes one space). Part of a shipped migration: never edit it.
 */
function refreshCampaignStanding13(where: string): string {
  const newest = `a.campaign_id = campaign_vehicles.campaign_id AND a.vin = campaign_vehicles.vin
       AND NOT EXISTS (SELECT 1 FROM assignments b WHERE b.vin = a.vin AND b.campaign_id = a.campaign_id AND b.ecu_serial = a.ecu_serial AND b.id > a.id)`;
  const firstOfEcu = '(SELECT MIN(b.id) FROM assignments b WHERE b.vin = a.vin AND b.campaign_id = a.campaign_id AND b.ecu_serial = a.ecu_serial)';
  const firstReason = (state: string) => `(SELECT a.reason FROM assignments a WHERE ${newest} AND a.state = '${state}' ORDER BY ${firstOfEcu} LIMIT 1)`;
  const skipped = "substr(campaign_vehicles.outcome, 1, 7) = 'skipped'";
  const skipReason = "CASE WHEN substr(campaign_vehicles.outcome, 1, 8) = 'skipped:' THEN ltrim(substr(campaign_vehicles.outcome, 9), char(32, 9, 10, 11, 12, 13)) ELSE campaign_vehicles.outcome END";
  const prefix = "substr(s.reason, 1, instr(s.reason, ':') - 1)";
  return `UPDATE campaign_vehicles SET (standing, standing_reason, deferred_while_driving, rolled_back, skip_code) = (
     SELECT s.standing, s.reason, s.deferred, s.rolled_back,
            CASE WHEN s.standing <> 'skipped' THEN ''
                 WHEN s.reason IS NULL THEN 'unknown'
                 WHEN s.reason = 'already installed' THEN 'already_installed'
                 WHEN s.reason = 'no ECU with a matching hardware id' THEN 'no_matching_ecu'
                 WHEN instr(s.reason, ':') > 1 AND ${prefix} NOT GLOB '*[^a-z_]*' THEN ${prefix}
                 ELSE 'other' END
       FROM (SELECT
               CASE WHEN campaign_vehicles.stage IS NULL THEN 'unstaged'
                    WHEN ${skipped} THEN 'skipped'
                    WHEN n.failed > 0 THEN 'failed'
                    WHEN n.in_flight > 0 THEN 'downloading'
                    WHEN n.pending > 0 THEN 'pending'
                    WHEN n.total > 0 AND n.installed = n.total THEN 'installed'
                    ELSE 'cancelled' END AS standing,
               CASE WHEN campaign_vehicles.stage IS NULL THEN NULL
                    WHEN ${skipped} THEN ${skipReason}
                    WHEN n.failed > 0 THEN ${firstReason('failed')}
                    WHEN n.in_flight + n.pending > 0 OR (n.total > 0 AND n.installed = n.total) THEN NULL
                    ELSE ${firstReason('cancelled')} END AS reason,
               CASE WHEN campaign_vehicles.stage IS NOT NULL AND NOT coalesce(${skipped}, 0) AND n.failed = 0 AND n.in_flight + n.pending > 0
                         AND (SELECT v.last_state FROM vehicles v WHERE v.vin = campaign_vehicles.vin) = 'driving' THEN 1 ELSE 0 END AS deferred,
               CASE WHEN campaign_vehicles.stage IS NOT NULL AND NOT coalesce(${skipped}, 0) AND n.rolled_back > 0 THEN 1 ELSE 0 END AS rolled_back
             FROM (SELECT COUNT(*) AS total,
                          COUNT(*) FILTER (WHERE a.state = 'failed') AS failed,
                          COUNT(*) FILTER (WHERE a.state = 'in_flight') AS in_flight,
                          COUNT(*) FILTER (WHERE a.state = 'pending') AS pending,
                          COUNT(*) FILTER (WHERE a.state = 'installed') AS installed,
                          COUNT(*) FILTER (WHERE a.state = 'failed' AND substr(a.reason, 1, 11) = 'rolled_back') AS rolled_back
                     FROM assignments a WHERE ${newest}) n) s)
   WHERE ${where};`;
}

/** Migration 13's change of campaign_stage_totals by one vehicle row (`row` NEW or OLD) counted `sign` times. */
function campaignTotals13(row: 'NEW' | 'OLD', sign: 1 | -1): string {
  return `INSERT INTO campaign_stage_totals (campaign_id, stage, standing, skip_code, vehicles, deferred_while_driving, rolled_back)
     VALUES (${row}.campaign_id, coalesce(${row}.stage, -1), ${row}.standing, ${row}.skip_code, ${sign}, ${sign} * ${row}.deferred_while_driving, ${sign} * ${row}.rolled_back)
     ON CONFLICT (campaign_id, stage, standing, skip_code) DO UPDATE SET vehicles = vehicles + excluded.vehicles,
       deferred_while_driving = deferred_while_driving + excluded.deferred_while_driving, rolled_back = rolled_back + excluded.rolled_back;`;
}
