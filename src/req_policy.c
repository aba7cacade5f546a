/* req_policy.c: what one request may do. Attribution of a request to a tenant
 * (by dedicated listener, client certificate, API key or source address) and the policy checks
 * of docs/tenants.md and docs/http.md: methods, VINs in the path or the body, and the shape
 * of the body those VINs are read from. List answers are filtered with
 * the same VIN test by req_listfilter.c.
 *
 * Every function here is a pure read of an immutable configuration, so
 * none takes a lock (local bearer tokens are looked up in req_localtoken.c's
 * store, whose lock is inside). Tenant files are tenant.c's; this file never loads
 * anything. It must never put an API key (or anything derived from one
 * beyond "a key") into a detail text, and never logs: answers go to the
 * caller's DETAIL buffer.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "fleetgate.h"
#include "clock.h"
#include "conf.h"
#include "req_attr.h"
#include "req_localtoken.h"
#include "req_policy.h"
#include "req_route.h"
#include "tenant.h"
#include "tenant_cert.h"
#include "vinset.h"

/* ---- attribution -------------------------------------------------------- */

/* v4-mapped v6 peers come back as AF_INET, so ::ffff:10.1.2.3 (a
 * dual-stack listener's view of an IPv4 client) matches 10.0.0.0/8. */
static int req_policy_peer_addr(const struct sockaddr *peer, unsigned char addr[16])
{
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;
		memcpy(addr, &s4->sin_addr, 4);
		return AF_INET;
	}
	if (peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(addr, s6->sin6_addr.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(addr, &s6->sin6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

static bool req_policy_cidr_holds(const struct fg_cidr *c, int family, const unsigned char *addr)
{
	if (c->family != family)
		return false;
	int full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}

static const struct fg_tenant *req_policy_by_listener(const struct fg_config *c, const char *spec)
{
	for (size_t i = 0; i < c->ntenants; i++)
		for (size_t j = 0; j < c->tenants[i]->listen.n; j++)
			if (strcmp(c->tenants[i]->listen.v[j].spec, spec) == 0)
				return c->tenants[i];
	return NULL;
}

/* Every tenant's every hash is compared with CRYPTO_memcmp, so how long
 * this takes does not depend on how many bytes of a guess were right. */
static const struct fg_tenant *req_policy_by_key(const struct fg_config *c, const char *key, size_t keylen,
					     struct fg_attribution *how)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	const struct fg_tenant *found = NULL;
	SHA256((const unsigned char *)key, keylen, h);
	for (size_t i = 0; i < c->ntenants; i++)
		for (size_t k = 0; k < c->tenants[i]->nkeys; k++)
			if (CRYPTO_memcmp(c->tenants[i]->keys[k], h, sizeof(h)) == 0 && !found)
				found = c->tenants[i];
	if (found)
		req_attr_by_keyhash(h, how);
	OPENSSL_cleanse(h, sizeof(h));
	return found;
}

static const struct fg_tenant *req_policy_by_source(const struct fg_config *c, const struct sockaddr *peer,
						const struct fg_cidr **range)
{
	unsigned char addr[16];
	int family = req_policy_peer_addr(peer, addr);
	const struct fg_tenant *best = NULL;
	int best_bits = -1;
	if (family < 0)
		return NULL;   /* unix sockets have no address to match */
	for (size_t i = 0; i < c->ntenants; i++) {
		const struct fg_tenant *t = c->tenants[i];
		for (size_t j = 0; j < t->nsources; j++) {
			if (t->sources[j].bits > best_bits &&
			    req_policy_cidr_holds(&t->sources[j], family, addr)) {
				best = t;
				best_bits = t->sources[j].bits;
				*range = &t->sources[j];
			}
		}
	}
	return best;
}

/* S (N bytes) without leading and trailing spaces and tabs. */
static const char *req_policy_trim(const char *s, size_t *n)
{
	*n = strlen(s);
	while (*n && (*s == ' ' || *s == '\t')) {
		s++;
		(*n)--;
	}
	while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

enum fg_credential req_policy_credential(const char *authorization, const char *x_api_key,
				     const char **key, size_t *keylen)
{
	const char *a = NULL, *x = NULL;
	size_t an = 0, xn = 0;
	*key = NULL;
	*keylen = 0;
	if (authorization) {
		a = req_policy_trim(authorization, &an);
		/* "Bearer" and at least one space or tab, then the key. */
		if (an < 7 || strncasecmp(a, "Bearer", 6) != 0 || (a[6] != ' ' && a[6] != '\t'))
			return FG_CRED_BAD;
		a += 7;
		an -= 7;
		while (an && (*a == ' ' || *a == '\t')) {
			a++;
			an--;
		}
		if (!an)
			return FG_CRED_BAD;
	}
	if (x_api_key) {
		x = req_policy_trim(x_api_key, &xn);
		if (!xn)
			return FG_CRED_BAD;
	}
	if (a && x && (an != xn || memcmp(a, x, an) != 0))
		return FG_CRED_BAD;   /* which one would be meant? */
	if (!a && !x)
		return FG_CRED_NONE;
	*key = a ? a : x;
	*keylen = a ? an : xn;
	return FG_CRED_KEY;
}

/* A verified client certificate's tenant (tenant_cert.c's O(1) index):
 * 1 with *T (NULL: it names no tenant) and what it matched in *HOW, 0
 * without a certificate, -1 when the request must be refused as *RES
 * says. */
static int req_policy_by_cert(const struct fg_config *c, const struct fg_peer_cert *cert,
			      const struct fg_tenant **t, struct fg_attribution *how, enum fg_attr_result *res)
{
	bool conflict;
	const char *name;
	const unsigned char *pin;
	*t = NULL;
	if (!cert || cert->state == FG_CERT_NONE)
		return 0;
	if (cert->state == FG_CERT_FAILED) {
		*res = FG_ATTR_BAD_CERT;   /* never attributes, never falls through */
		return -1;
	}
	*t = tenant_cert_lookup(c->certs, cert, &conflict, &name, &pin);
	if (conflict) {
		*res = FG_ATTR_CONFLICT;
		return -1;
	}
	if (*t)
		req_attr_by_cert(name, pin, how);
	return 1;
}

/* Linear scans for listeners, keys and sources: deployments have tens of
 * tenants, and a scan of tens of entries costs less than the hash of the
 * key it follows. What attributed goes into *HOW; TOKENS: a local token
 * may attribute (not on the token route). */
static const struct fg_tenant *req_policy_attribute_by(const struct fg_config *c, const char *listener_spec,
						   const struct fg_peer_cert *cert, const char *authorization,
						   const char *x_api_key, const struct sockaddr *peer, bool tokens,
						   struct fg_attribution *how, enum fg_attr_result *res)
{
	const struct fg_tenant *t = NULL, *tc = NULL, *tk = NULL;
	const struct fg_cidr *range = NULL;
	struct fg_attribution by_cert = { FG_BY_NONE, {0} }, by_key = { FG_BY_NONE, {0} };
	const char *key;
	size_t keylen;
	memset(how, 0, sizeof *how);
	*res = FG_ATTR_NONE;
	if (!c || req_policy_by_cert(c, cert, &tc, &by_cert, res) < 0)
		return NULL;
	if (listener_spec) {
		/* A dedicated listener is its tenant's alone: a key or address
		 * seen there never picks anyone else, even once the tenant has
		 * been removed and the listener is on its way out; and another
		 * tenant's certificate there is refused, not taken for the
		 * port's tenant. */
		if (!(t = req_policy_by_listener(c, listener_spec))) {
			*res = FG_ATTR_LISTENER_GONE;
			return NULL;
		}
		if (tc && tc != t) {
			*res = FG_ATTR_CONFLICT;
			return NULL;
		}
		req_attr_by_listener(listener_spec, how);
		goto found;
	}
	enum fg_credential cred = req_policy_credential(authorization, x_api_key, &key, &keylen);
	/* An API key, or a local bearer token from POST /v1/access_tokens
	 * (which speaks for its tenant as what attributed it does). */
	if (cred == FG_CRED_KEY && !(tk = req_policy_by_key(c, key, keylen, &by_key)) && tokens &&
	    (tk = req_localtoken_lookup(c, key, keylen, clock_now())))
		by_key.by = FG_BY_TOKEN;
	if (tc) {
		/* The certificate decides; a credential beside it must be the
		 * same tenant's (one of another tenant's is refused, as two
		 * different keys are). */
		if (cred != FG_CRED_NONE && tk != tc) {
			*res = tk ? FG_ATTR_CONFLICT : FG_ATTR_BAD_KEY;
			OPENSSL_cleanse(&by_key, sizeof by_key);
			return NULL;
		}
		*how = by_cert;
		t = tc;
		goto found;
	}
	if ((t = tk)) {
		*how = by_key;
		goto found;
	}
	if (cred != FG_CRED_NONE) {
		*res = FG_ATTR_BAD_KEY;   /* never fall back to the source */
		return NULL;
	}
	if (peer && (t = req_policy_by_source(c, peer, &range))) {
		req_attr_by_range(range, how);
		goto found;
	}
	return NULL;
found:
	OPENSSL_cleanse(&by_key, sizeof by_key);
	*res = FG_ATTR_OK;
	return t;
}

const struct fg_tenant *req_policy_attribute(const struct fg_config *c, const char *listener_spec,
					 const char *authorization, const char *x_api_key,
					 const struct sockaddr *peer, enum fg_attr_result *res)
{
	enum fg_attr_result dummy;
	struct fg_attribution how;
	return req_policy_attribute_by(c, listener_spec, NULL, authorization, x_api_key, peer, true, &how,
				       res ? res : &dummy);
}

/* ---- policy ------------------------------------------------------------- */

bool req_policy_allows_vin(const struct fg_tenant *t, const char *vin17)
{
	return t && vinset_contains(t->vins, vin17);
}

/* A growing list of normalized VINs without duplicates; the temporary set
 * keeps a body of thousands of VINs linear. It is made at the second VIN:
 * the one VIN of a path route (every single-VIN read) needs none. */
struct policy_vinlist {
	char **v;
	size_t n, cap;
	struct vinset *seen;
};

static int req_policy_vinlist_add(struct policy_vinlist *l, const char *vin)
{
	if (l->n > 0 && !l->seen) {
		if (!(l->seen = vinset_new()))
			return -1;
		vinset_add(l->seen, l->v[0]);
	}
	if (l->seen && vinset_contains(l->seen, vin))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return -1;
		l->v = nv;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(vin)))
		return -1;
	l->n++;
	if (l->seen)
		vinset_add(l->seen, vin);
	return 0;
}

static void req_policy_vinlist_free(struct policy_vinlist *l)
{
	req_policy_vins_free(l->v, l->n);
	vinset_free(l->seen);
	memset(l, 0, sizeof(*l));
}

void req_policy_vins_free(char **vins, size_t n)
{
	if (!vins)
		return;
	for (size_t i = 0; i < n; i++)
		free(vins[i]);
	free(vins);
}

/* "VIN A is not ..." or "VINs A, B and 3 more are not ...": every denied
 * VIN that fits in DETAIL is named, the rest counted. */
/* S (N bytes) appended at LEN of DETAIL as snprintf would: cut to what
 * fits, always terminated; returns LEN + N (the length it would have). */
static size_t req_policy_put(char *detail, size_t detaillen, size_t len, const char *s, size_t n)
{
	if (len < detaillen) {
		size_t k = n < detaillen - len - 1 ? n : detaillen - len - 1;
		memcpy(detail + len, s, k);
		detail[len + k] = '\0';
	}
	return len + n;
}

/* "VIN X is not allowed for tenant T (...)", or "VINs X, Y and 3 more
 * are ...": the text four snprintf calls made, built from its pieces (a
 * 403 is a common answer). */
static void req_policy_denied_detail(const struct fg_tenant *t, char **denied, size_t n,
				 char *detail, size_t detaillen)
{
	static const char t1[] = " not allowed for tenant ", t2[] = " (not in its vins, vin_file or vin_prefixes)";
	char tail[192];   /* " is|are" t1 NAME t2, cut to 191 bytes */
	size_t tl = req_policy_put(tail, sizeof tail, 0, n == 1 ? " is" : " are", n == 1 ? 3 : 4);
	tl = req_policy_put(tail, sizeof tail, tl, t1, sizeof t1 - 1);
	tl = req_policy_put(tail, sizeof tail, tl, t->name, strlen(t->name));
	tl = req_policy_put(tail, sizeof tail, tl, t2, sizeof t2 - 1);
	tl = tl < sizeof tail ? tl : sizeof tail - 1;
	size_t room = detaillen > tl + 32 ? detaillen - tl - 32 : 0;
	size_t len = req_policy_put(detail, detaillen, 0, n == 1 ? "VIN" : "VINs", n == 1 ? 3 : 4);
	size_t shown = 0;
	for (; shown < n && len + 2 + FG_VIN_LEN < room; shown++) {
		len = req_policy_put(detail, detaillen, len, shown ? ", " : " ", shown ? 2 : 1);
		len = req_policy_put(detail, detaillen, len, denied[shown], strlen(denied[shown]));
	}
	if (shown < n && len < detaillen)
		len += (size_t)snprintf(detail + len, detaillen - len, " and %zu more", n - shown);
	if (len < detaillen)
		req_policy_put(detail, detaillen, len, tail, tl);
}

static int req_policy_check_method(const struct fg_tenant *t, enum fg_route route, char *detail,
			       size_t detaillen)
{
	unsigned need = req_route_needs(route);
	if (!need) {
		snprintf(detail, detaillen, "unknown route");
		return 404;
	}
	if (t->methods & need)
		return 0;
	char have[32];
	tenant_methods_text(t->methods, have, sizeof(have));
	snprintf(detail, detaillen, "method %s is not allowed for tenant %s (methods = %s)%s",
		 tenant_method_name(need), t->name, have,
		 route == FG_R_CANCEL ? "; cancel_activation counts as DELETE" : "");
	return 403;
}

/* Normalizes every vehicles[].vin into L, or fills DETAIL and returns 400. */
static int req_policy_body_vehicles(json_t *body, struct policy_vinlist *l, char *detail, size_t detaillen)
{
	if (!json_is_object(body)) {
		snprintf(detail, detaillen, "request body must be a JSON object with a \"vehicles\" array");
		return 400;
	}
	json_t *vehicles = json_object_get(body, "vehicles");
	if (!json_is_array(vehicles)) {
		snprintf(detail, detaillen, "request body must have a \"vehicles\" array");
		return 400;
	}
	size_t i, bad = 0;
	json_t *item;
	char first[160] = "";
	json_array_foreach(vehicles, i, item) {
		if (!json_is_object(item)) {
			snprintf(detail, detaillen, "vehicles[%zu] must be an object", i);
			return 400;
		}
		json_t *jv = json_object_get(item, "vin");
		if (!json_is_string(jv)) {
			snprintf(detail, detaillen, "vehicles[%zu].vin must be a string", i);
			return 400;
		}
		char vin[18];
		if (!vin_normalize(json_string_value(jv), json_string_length(jv), vin)) {
			if (!bad++) {
				char q[48];
				vin_quote(json_string_value(jv), json_string_length(jv), q, sizeof(q));
				snprintf(first, sizeof(first), "vehicles[%zu].vin \"%s\" is not a VIN", i, q);
			}
			continue;
		}
		if (req_policy_vinlist_add(l, vin) < 0) {
			snprintf(detail, detaillen, "out of memory");
			return 500;
		}
	}
	if (bad) {
		if (bad == 1)
			snprintf(detail, detaillen, "%s (17 characters of A-Z and 0-9)", first);
		else
			snprintf(detail, detaillen, "%s (17 characters of A-Z and 0-9); %zu more malformed VINs",
				 first, bad - 1);
		return 400;
	}
	return 0;
}

static int req_policy_body_vin(json_t *body, struct policy_vinlist *l, char *detail, size_t detaillen)
{
	json_t *jv = json_object_get(body, "vin");
	if (!json_is_object(body) || !json_is_string(jv)) {
		snprintf(detail, detaillen, "request body must be a JSON object with a \"vin\" string");
		return 400;
	}
	char vin[18];
	if (!vin_normalize(json_string_value(jv), json_string_length(jv), vin)) {
		char q[48];
		vin_quote(json_string_value(jv), json_string_length(jv), q, sizeof(q));
		snprintf(detail, detaillen, "vin \"%s\" is not a VIN (17 characters of A-Z and 0-9)", q);
		return 400;
	}
	if (req_policy_vinlist_add(l, vin) < 0) {
		snprintf(detail, detaillen, "out of memory");
		return 500;
	}
	return 0;
}

/* Gathers the request's VINs into L: from the body for POST routes, from
 * the path for VIN routes, none for the list. */
static int req_policy_request_vins(enum fg_route route, const char *path_vin, json_t *body,
			       struct policy_vinlist *l, char *detail, size_t detaillen)
{
	switch (route) {
	case FG_R_CREATE:
		return req_policy_body_vehicles(body, l, detail, detaillen);
	case FG_R_ACCESS_TOKEN:
		return req_policy_body_vin(body, l, detail, detaillen);
	case FG_R_GET:
	case FG_R_DELETE:
	case FG_R_CANCEL: {
		char vin[18];
		if (!path_vin || !vin_normalize(path_vin, strlen(path_vin), vin)) {
			snprintf(detail, detaillen, "the path does not hold a VIN (17 characters of A-Z and 0-9)");
			return 400;
		}
		if (req_policy_vinlist_add(l, vin) < 0) {
			snprintf(detail, detaillen, "out of memory");
			return 500;
		}
		return 0;
	}
	default:
		return 0;
	}
}

int req_policy_check(const struct fg_tenant *t, enum fg_route route, const char *path_vin,
		 json_t *body, char ***vins, size_t *nvins, char *detail, size_t detaillen)
{
	struct policy_vinlist l = {0}, denied = {0};
	int status;
	if (vins)
		*vins = NULL;
	if (nvins)
		*nvins = 0;
	if (detaillen)
		detail[0] = '\0';
	if ((status = req_policy_check_method(t, route, detail, detaillen)) != 0)
		return status;
	if ((status = req_policy_request_vins(route, path_vin, body, &l, detail, detaillen)) != 0)
		goto done;
	for (size_t i = 0; i < l.n; i++) {
		if (!req_policy_allows_vin(t, l.v[i]) && req_policy_vinlist_add(&denied, l.v[i]) < 0) {
			snprintf(detail, detaillen, "out of memory");
			status = 500;
			goto done;
		}
	}
	if (denied.n) {
		req_policy_denied_detail(t, denied.v, denied.n, detail, detaillen);
		status = 403;
	}
	/* Allowed or denied, the caller gets the VINs asked for: the audit
	 * line of a refused mutation names them too. */
	if (vins && nvins) {
		*vins = l.v;
		*nvins = l.n;
		l.v = NULL;
		l.n = 0;
	}
done:
	req_policy_vinlist_free(&l);
	req_policy_vinlist_free(&denied);
	return status;
}

/* ---- the body ------------------------------------------------------------ */

bool req_policy_json_media_type(const char *ct)
{
	if (!ct)
		return true;
	size_t n;
	ct = req_policy_trim(ct, &n);
	const char *semi = memchr(ct, ';', n);
	if (semi)
		n = (size_t)(semi - ct);
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	static const char app[] = "application/";
	if (n < sizeof app - 1 || strncasecmp(ct, app, sizeof app - 1) != 0)
		return false;
	const char *sub = ct + sizeof app - 1;
	size_t sn = n - (sizeof app - 1);
	if (sn == 4 && strncasecmp(sub, "json", 4) == 0)
		return true;
	/* application/vnd.api+json and the like: a name, then "+json". */
	return sn > 5 && strncasecmp(sub + sn - 5, "+json", 5) == 0 && !memchr(sub, '/', sn) &&
	       !memchr(sub, ' ', sn) && !memchr(sub, '\t', sn);
}

int req_policy_parse_body(enum fg_route route, const char *content_type, const unsigned char *body, size_t len,
		      json_t **json, char *detail, size_t detaillen)
{
	*json = NULL;
	if (route != FG_R_CREATE && route != FG_R_ACCESS_TOKEN)
		return 0;
	/* A body labelled as a form may be read as one upstream, with
	 * other VINs than the JSON checked here. */
	if (!req_policy_json_media_type(content_type)) {
		snprintf(detail, detaillen, "the request body must be JSON: Content-Type application/json "
			 "(or application/<x>+json, or none)");
		return 415;
	}
	json_error_t je;
	/* Duplicate keys: parsers differ on which one wins, so the VIN
	 * checked here might not be the one the upstream reads. */
	*json = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
	if (*json)
		return 0;
	snprintf(detail, detaillen, "the request body is not valid JSON: %s (line %d)", je.text, je.line);
	return 400;
}

/* The credential headers in one pass over H: the first Authorization
 * and X-API-Key (as evhttp_find_header finds them) and whether either
 * comes more than once. */
static bool req_policy_credential_headers(struct evkeyvalq *h, const char **auth, const char **key)
{
	int nauth = 0, nkey = 0;
	struct evkeyval *kv;
	*auth = *key = NULL;
	if (h)
		TAILQ_FOREACH(kv, h, next) {
			if (strcasecmp(kv->key, "Authorization") == 0) {
				if (!nauth++)
					*auth = kv->value;
			} else if (strcasecmp(kv->key, "X-API-Key") == 0) {
				if (!nkey++)
					*key = kv->value;
			}
		}
	return nauth > 1 || nkey > 1;
}

const struct fg_tenant *req_policy_attribute_how(const struct fg_config *c, const char *listener_spec,
					     const struct fg_peer_cert *cert, struct evkeyvalq *h,
					     const struct sockaddr *peer, bool token_route, struct fg_attribution *how,
					     enum fg_attr_result *res)
{
	struct fg_attribution dummy;
	const char *authz, *key;
	if (!how)
		how = &dummy;
	if (req_policy_credential_headers(h, &authz, &key) && !listener_spec) {
		memset(how, 0, sizeof *how);
		*res = FG_ATTR_AMBIGUOUS;
		return NULL;
	}
	if (token_route && authz && req_attr_is_basic(authz))
		authz = NULL;   /* the client's authentication: req_localtoken.c's */
	return req_policy_attribute_by(c, listener_spec, cert, authz, key, peer, !token_route, how, res);
}

const struct fg_tenant *req_policy_attribute_request(const struct fg_config *c, const char *listener_spec,
						 const struct fg_peer_cert *cert, struct evkeyvalq *h,
						 const struct sockaddr *peer, enum fg_attr_result *res)
{
	return req_policy_attribute_how(c, listener_spec, cert, h, peer, false, NULL, res);
}

int req_policy_attr_refusal(enum fg_attr_result res, const char **detail)
{
	switch (res) {
	case FG_ATTR_LISTENER_GONE:
		*detail = "this listener was removed by a configuration reload; reconnect";
		return 503;
	case FG_ATTR_AMBIGUOUS:
		*detail = "more than one Authorization or X-API-Key header: send one credential";
		return 400;
	case FG_ATTR_BAD_KEY:
		*detail = "the API key or bearer token presented matches no tenant or has expired";
		return 401;
	case FG_ATTR_BAD_CERT:
		*detail = "the client certificate did not verify against the gateway's client CAs";
		return 401;
	case FG_ATTR_CONFLICT:
		*detail = "the client certificate belongs to another tenant than this listener or credential "
			  "(or names two tenants)";
		return 401;
	default:
		*detail = "no tenant matches this request (listener, client certificate, API key or source address)";
		return 401;
	}
}

int req_policy_head(const struct fg_config *c, const char *listener_spec, const struct fg_peer_cert *cert,
		    bool attribute, struct evkeyvalq *h, const struct sockaddr *peer, char *detail, size_t len)
{
	enum fg_attr_result res = FG_ATTR_NONE;
	if (attribute && !req_policy_attribute_request(c, listener_spec, cert, h, peer, &res)) {
		const char *why;
		int st = req_policy_attr_refusal(res, &why);
		snprintf(detail, len, "%s", why);
		return st;
	}
	const char *cl = evhttp_find_header(h, "Content-Length");
	char *end = NULL;
	unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
	if (cl && end != cl && *end == '\0' && n > c->max_body_bytes) {
		snprintf(detail, len, "the request body is larger than %zu bytes", c->max_body_bytes);
		return 413;
	}
	return 0;
}
