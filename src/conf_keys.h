/* conf_keys.h: every key of the main configuration file, one row each
 * (docs/configuration.md). Only conf.c expands it: into the parsers'
 * specs and the public config_keys[] that -t, -T, the docs coverage test
 * and /stats' config view read, so a key cannot exist in one place and be
 * missing in another. A new key is a row here and a field in struct
 * fg_config (conf.h). */
#ifndef FG_CONF_KEYS_H
#define FG_CONF_KEYS_H

/* X(section, name, type, field, default, reloadable, min, max, help)
 * An empty default means "unset"; derived defaults are filled in by
 * conf_derive(). Only `workers` needs a restart: the event-loop threads
 * are started once. */
#define CONFIG_KEYS(X) \
	X(gateway, listen, CT_ADDRS, listen, "127.0.0.1:8080", true, 0, 0, \
	  "shared tenant listeners: host:port, [v6]:port or unix:/path; comma list") \
	X(gateway, admin_listen, CT_ADDRS, admin_listen, "127.0.0.1:8081", false, 0, 0, \
	  "admin listeners (health, stats, metrics, purge); \"off\" for none") \
	X(gateway, workers, CT_INT, workers, "0", false, 0, FG_MAX_WORKERS, \
	  "event-loop threads; 0 = one per online CPU") \
	X(gateway, tenants_dir, CT_PATH, tenants_dir, "tenants.d", true, 0, 0, \
	  "folder whose *.conf files are the tenants") \
	X(gateway, max_body_bytes, CT_SIZE, max_body_bytes, "1048576", true, 1, 1073741824, \
	  "larger request bodies get 413; K/M/G suffixes") \
	X(gateway, client_timeout, CT_SECONDS, client_timeout, "30", false, 1, 86400, \
	  "seconds a client connection may idle") \
	X(gateway, client_header_timeout, CT_SECONDS, client_header_timeout, "10", true, 1, 86400, \
	  "seconds a client may take to send a request's headers (408 and close beyond)") \
	X(gateway, client_body_timeout, CT_SECONDS, client_body_timeout, "60", true, 1, 86400, \
	  "seconds a client may take to send a request's body (408 and close beyond)") \
	X(gateway, max_connections, CT_INT, max_connections, "0", true, 0, 1048576, \
	  "client connections over all tenant-facing listeners; 0 = sized from the descriptor limit") \
	X(gateway, shutdown_timeout, CT_SECONDS, shutdown_timeout, "10", true, 0, 86400, \
	  "seconds to finish requests in flight on SIGTERM/SIGINT") \
	X(gateway, drain_delay, CT_SECONDS, drain_delay, "5", true, 0, 3600, \
	  "lame duck on SIGTERM/SIGQUIT: seconds /readyz answers 503 while tenants are still served") \
	X(gateway, admin_token_sha256, CT_SHA256, admin_token_sha256, "", true, 0, 0, \
	  "SHA-256 hex of the bearer token admin POST routes require; empty = none required") \
	X(gateway, admin_open, CT_BOOL, admin_open, "no", true, 0, 0, \
	  "yes: allow an admin_listen off loopback without admin_token_sha256 (POSTs open to whoever reaches it)") \
	X(gateway, admin_max_connections, CT_INT, admin_max_connections, "64", true, 1, 65536, \
	  "connections open at once on the admin listener; beyond it 503 and closed") \
	X(gateway, admin_idle_timeout, CT_SECONDS, admin_idle_timeout, "10", false, 1, 86400, \
	  "seconds an admin connection may idle") \
	X(gateway, unix_mode, CT_MODE, unix_mode, "", true, 0, 0, \
	  "octal mode of unix: listener sockets (e.g. 0660); empty = the umask's") \
	X(gateway, unix_group, CT_STRING, unix_group, "", true, 0, 0, \
	  "group of unix: listener sockets; empty = the process's") \
	X(gateway, access_log, CT_LOG, access_log, "-", true, 0, 0, \
	  "access log: path, \"-\" for stderr, or \"off\"") \
	X(gateway, audit_log, CT_LOG, audit_log, "-", true, 0, 0, \
	  "audit log of mutations: path, \"-\" for stderr, or \"off\"") \
	X(gateway, audit_sync, CT_BOOL, audit_sync, "no", true, 0, 0, \
	  "yes: an answer to a mutation waits until its audit lines are synced to disk (fdatasync)") \
	X(gateway, log_level, CT_LEVEL, log_level, "info", true, 0, 0, \
	  "error | warn | info | debug") \
	X(gateway, local_token_ttl, CT_SECONDS, local_token_ttl, "3600", true, 1, 86400, \
	  "seconds a local token from POST /v1/access_tokens is valid") \
	X(gateway, local_token_key, CT_SECRET, local_token_key, "", true, 0, 0, \
	  "seals local tokens so every instance with it honours them (env:NAME, file:PATH or literal); empty = per process") \
	X(gateway, local_token_key_previous, CT_SECRET, local_token_key_previous, "", true, 0, 0, \
	  "the key before local_token_key, still honoured while it rotates out (env:, file: or literal)") \
	X(upstream, base_url, CT_URL, base_url, "https://sandbox.api.high-mobility.com", true, 0, 0, \
	  "upstream API root (http:// or https://)") \
	X(upstream, ca_file, CT_PATH, ca_file, "", true, 0, 0, \
	  "PEM CA bundle; empty = system trust store") \
	X(upstream, connect_timeout, CT_SECONDS, connect_timeout, "5", true, 1, 3600, \
	  "seconds to connect to the upstream") \
	X(upstream, timeout, CT_SECONDS, timeout, "30", true, 1, 86400, \
	  "seconds for a whole upstream exchange") \
	X(upstream, vin_get_rate, CT_RATE, vin_get_rate, "60/min", true, 0, 0, \
	  "upstream budget for GET /v1/fleets/vehicles/{vin}") \
	X(upstream, queue_timeout, CT_SECONDS, queue_timeout, "10", true, 0, 86400, \
	  "seconds a request may wait for budget or a token") \
	X(upstream, max_upstream_bytes, CT_SIZE, max_upstream_bytes, "8M", true, 1024, 1073741824, \
	  "longer upstream answers are refused with 502; K/M/G suffixes") \
	X(upstream, vin_reads, CT_VINREADS, vin_reads, "auto", true, 0, 0, \
	  "single-VIN misses: auto (a free budget slot, else a list read), list, or single") \
	X(upstream, list_batch_window, CT_MILLIS, list_batch_window_ms, "0.05", true, 0, 10000, \
	  "seconds (fraction allowed, or Nms) a list read waits to gather VINs") \
	X(upstream, list_batch_max, CT_INT, list_batch_max, "100", true, 1, 300, \
	  "VINs per list read (at most 300: the URL stays under 8 KB)") \
	X(upstream, list_get_rate, CT_RATE, list_get_rate, "30/min", true, 0, 0, \
	  "pacing of GET /v1/fleets/vehicles reads made for single-VIN reads") \
	X(oauth, token_url, CT_URL, token_url, "", true, 0, 0, \
	  "token endpoint; default base_url + /v1/access_tokens") \
	X(oauth, client_id, CT_STRING, client_id, "", true, 0, 0, \
	  "OAuth client id (required)") \
	X(oauth, client_secret, CT_SECRET, client_secret, "", true, 0, 0, \
	  "client secret: env:NAME, file:PATH or literal; or use private_key_file") \
	X(oauth, private_key_file, CT_PATH, private_key_file, "", true, 0, 0, \
	  "EC P-256 PEM key for a signed client assertion instead of client_secret") \
	X(oauth, key_id, CT_STRING, key_id, "", true, 0, 0, \
	  "service account key id (iss of the assertion); needed with private_key_file") \
	X(oauth, audience, CT_STRING, audience, "", true, 0, 0, \
	  "aud of the assertion; default base_url + /v1") \
	X(oauth, scope, CT_STRING, scope, "", true, 0, 0, \
	  "scope sent with the token request when set") \
	X(oauth, refresh_before, CT_SECONDS_OPT, refresh_before, "", true, 0, 31536000, \
	  "seconds before expiry to rotate the token; default half the lifetime") \
	X(cache, enabled, CT_BOOL, cache_enabled, "yes", true, 0, 0, \
	  "cache clearance reads") \
	X(cache, max_bytes, CT_SIZE, cache_max_bytes, "64M", true, 0, 1099511627776LL, \
	  "memory budget of the cache; K/M/G suffixes") \
	X(cache, ttl, CT_SECONDS, ttl, "60", true, 0, 31536000, \
	  "seconds a single-VIN read is fresh when its status has no ttl_<status>") \
	X(cache, ttl_list, CT_SECONDS, ttl_list, "30", true, 0, 31536000, \
	  "seconds a GET /v1/fleets/vehicles answer is fresh") \
	X(cache, stale_if_error, CT_SECONDS, stale_if_error, "600", true, 0, 31536000, \
	  "seconds past expiry a stale entry may be served when the upstream fails") \
	X(cache, refresh_ahead, CT_BOOL, refresh_ahead, "yes", true, 0, 0, \
	  "refresh an entry that was read through a list read in the last fifth of its ttl") \
	X(redis, url, CT_REDIS_URL, redis_url, "", false, 0, 0, \
	  "shared state: redis://IP:PORT/DB or unix:/path; empty = this process alone") \
	X(redis, username, CT_STRING, redis_username, "", false, 0, 0, \
	  "Redis ACL user (AUTH username password); empty = AUTH password only") \
	X(redis, password, CT_SECRET, redis_password, "", false, 0, 0, \
	  "Redis password: env:NAME, file:PATH or literal; empty = no AUTH") \
	X(redis, prefix, CT_STRING, redis_prefix, "fleetgate", false, 0, 0, \
	  "first part of every Redis key and channel fleetgate uses") \
	X(redis, connect_timeout, CT_MILLIS, redis_connect_timeout_ms, "1", false, 1, 60000, \
	  "seconds (fraction allowed, or Nms) to connect and authenticate") \
	X(redis, timeout, CT_MILLIS, redis_timeout_ms, "0.25", false, 1, 60000, \
	  "seconds (fraction allowed, or Nms) one Redis command may take") \
	X(redis, instances, CT_INT, redis_instances, "2", false, 1, 1024, \
	  "fleetgate instances sharing the budget; floor(limit/instances) is the fallback share") \
	X(redis, on_failure, CT_ONFAIL, redis_on_failure, "share", false, 0, 0, \
	  "while Redis is down: share (send the fallback share) or closed (cache only)") \
	X(redis, cache, CT_BOOL, redis_cache, "yes", false, 0, 0, \
	  "keep a second cache level in Redis, shared by every instance") \
	X(redis, signing_key, CT_SECRET, redis_signing_key, "", false, 0, 0, \
	  "HMAC key signing second-level cache entries (env:NAME, file:PATH); same on every instance") \
	X(redis, signing_key_previous, CT_SECRET, redis_signing_key_previous, "", false, 0, 0, \
	  "the signing key before a rotation: entries it signed are still accepted") \
	X(tls, cert_file, CT_PATH, tls.cert_file, "", true, 0, 0, \
	  "PEM certificate chain (leaf first) of tls:// tenant and admin listeners") \
	X(tls, key_file, CT_PATH, tls.key_file, "", true, 0, 0, \
	  "PEM private key of cert_file; not readable by every user (0600, or 0640 group ssl-cert)") \
	X(tls, client_ca_file, CT_PATH, tls.client_ca_file, "", true, 0, 0, \
	  "PEM CA certificates client certificates are verified against; empty = none asked for") \
	X(tls, crl_file, CT_PATH, tls.crl_file, "", true, 0, 0, \
	  "PEM certificate revocation lists checked with client_ca_file") \
	X(tls, client_verify, CT_TLSVERIFY, tls.verify, "", true, 0, 0, \
	  "off | optional | required; default optional with client_ca_file, else off") \
	X(tls, min_version, CT_TLSVERSION, tls.min_version, "1.2", true, 0, 0, \
	  "oldest TLS version accepted: 1.2 or 1.3") \
	X(webhook, listen, CT_ADDRS, webhook_listen, "", false, 0, 0, \
	  "the listener High Mobility posts webhooks to (its own port; main thread; tls:// with cert_file); empty or \"off\" = none") \
	X(webhook, cert_file, CT_PATH, webhook_tls.cert_file, "", true, 0, 0, \
	  "PEM certificate chain (leaf first) of a tls:// webhook listener: its own, publicly trusted one") \
	X(webhook, key_file, CT_PATH, webhook_tls.key_file, "", true, 0, 0, \
	  "PEM private key of [webhook] cert_file; not readable by every user") \
	X(webhook, path, CT_STRING, webhook_path, "/v1/webhooks/high-mobility", true, 0, 0, \
	  "the path deliveries are posted to; any other path is 404") \
	X(webhook, secret, CT_SECRET, webhook_secret, "", true, 0, 0, \
	  "the webhook secret set in the High Mobility console (env:NAME, file:PATH or literal); needed with listen") \
	X(webhook, secret_previous, CT_SECRET, webhook_secret_previous, "", true, 0, 0, \
	  "the secret before a rotation: deliveries signed with it are still accepted") \
	X(webhook, max_body_bytes, CT_SIZE, webhook_max_body_bytes, "64K", true, 256, 1048576, \
	  "larger deliveries get 413, refused on their headers when declared; K/M suffixes") \
	X(webhook, max_connections, CT_INT, webhook_max_connections, "64", true, 1, 65536, \
	  "connections open at once on the webhook listener; beyond it 503 and closed") \
	X(webhook, header_timeout, CT_SECONDS, webhook_header_timeout, "10", true, 1, 3600, \
	  "seconds a delivery's headers may take (408 and close beyond)") \
	X(webhook, body_timeout, CT_SECONDS, webhook_body_timeout, "10", true, 1, 3600, \
	  "seconds a delivery's body may take (408 and close beyond)") \
	X(webhook, spool, CT_PATH, webhook_spool, "", false, 0, 0, \
	  "state folder: the delivery ids seen (dedupe across restarts); empty = memory only") \
	X(webhook, max_age, CT_SECONDS, webhook_max_age, "86400", true, 60, 2592000, \
	  "seconds a delivery id is remembered (High Mobility's retries come within it)") \
	X(webhook, dedupe_max, CT_INT, webhook_dedupe_max, "100000", false, 16, 10000000, \
	  "delivery ids remembered in memory at most (the oldest go first)") \
	X(webhook, verify_delay, CT_MILLIS, webhook_verify_delay_ms, "1", true, 0, 600000, \
	  "seconds (fraction allowed, or Nms) changed VINs are gathered before one list read verifies them") \
	X(webhook, reconcile_interval, CT_SECONDS, webhook_reconcile_interval, "60", true, 0, 86400, \
	  "seconds between reconciliation list reads (each compares up to list_batch_max cached VINs); 0 = off")

#endif
