/* tenant_cert.c: the tenants' client-certificate names and pins in one
 * hash index (docs/tenants.md, "Client certificates").
 *
 * conf.c builds the index once per configuration after the tenants are
 * loaded; a name or pin held by two tenants is a configuration error, as
 * two tenants with one key are. Lookups are O(1) and allocate nothing: a
 * request on a TLS connection asks once for its certificate's pin and once
 * per name. The index belongs to the immutable configuration.
 *
 * Never: look at a certificate that did not verify (the caller refuses
 * those), log, or read a certificate itself (http_tls.c does). */
#include "tenant_cert.h"
#include "tenant.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { TC_NAME = 1, TC_PIN = 2 };

struct tc_entry {
	int kind;                  /* 0: empty slot */
	const unsigned char *key;  /* the tenant's own copy */
	size_t len;
	const struct fg_tenant *t;
};

struct tenant_certs {
	struct tc_entry *v;
	size_t mask;
};

void tenant_cert_peer_clear(struct fg_peer_cert *pc)
{
	for (int i = 0; i < pc->nnames; i++)
		free(pc->names[i]);
	memset(pc, 0, sizeof *pc);
}

static uint64_t tc_hash(int kind, const unsigned char *k, size_t len)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;   /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		h ^= k[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct tc_entry *tc_slot(const struct tenant_certs *ix, int kind, const unsigned char *k, size_t len)
{
	size_t i = (size_t)tc_hash(kind, k, len) & ix->mask;
	for (;; i = (i + 1) & ix->mask) {
		struct tc_entry *e = &ix->v[i];
		if (!e->kind || (e->kind == kind && e->len == len && memcmp(e->key, k, len) == 0))
			return e;
	}
}

/* Adds KIND/K for tenant T; a clash with another tenant is reported. */
static void tc_add(struct tenant_certs *ix, int kind, const unsigned char *k, size_t len, const struct fg_tenant *t,
		   struct fg_errors *errs)
{
	struct tc_entry *e = tc_slot(ix, kind, k, len);
	if (!e->kind) {
		*e = (struct tc_entry){ kind, k, len, t };
		return;
	}
	if (e->t == t)
		return;   /* a repeat within one tenant: harmless */
	if (kind == TC_NAME)
		conf_errors_add(errs, t->file, t->line_cert_names, "cert_names: \"%s\" is also a certificate name of tenant %s (%s)",
				(const char *)k, e->t->name, e->t->file);
	else
		conf_errors_add(errs, t->file, t->line_cert_sha256, "cert_sha256: a certificate pin of tenant %s is also one of tenant %s (%s)",
				t->name, e->t->name, e->t->file);
}

struct tenant_certs *tenant_cert_index(struct fg_tenant *const *t, size_t n, struct fg_errors *errs)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += t[i]->ncert_names + t[i]->ncert_pins;
	if (!total)
		return NULL;
	size_t cap = 16;
	while (cap < total * 2)
		cap *= 2;
	struct tenant_certs *ix = calloc(1, sizeof *ix);
	if (ix)
		ix->v = calloc(cap, sizeof *ix->v);
	if (!ix || !ix->v) {
		free(ix);
		conf_errors_add(errs, NULL, 0, "out of memory");
		return NULL;
	}
	ix->mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < t[i]->ncert_names; k++)
			tc_add(ix, TC_NAME, (const unsigned char *)t[i]->cert_names[k], strlen(t[i]->cert_names[k]) + 1, t[i], errs);
		for (size_t k = 0; k < t[i]->ncert_pins; k++)
			tc_add(ix, TC_PIN, t[i]->cert_pins[k], 32, t[i], errs);
	}
	return ix;
}

void tenant_cert_index_free(struct tenant_certs *ix)
{
	if (!ix)
		return;
	free(ix->v);
	free(ix);
}

const struct fg_tenant *tenant_cert_lookup(const struct tenant_certs *ix, const struct fg_peer_cert *pc,
					   bool *conflict, const char **name, const unsigned char **pin)
{
	const struct fg_tenant *found = NULL;
	const char *mname = NULL;
	const unsigned char *mpin = NULL;
	*conflict = false;
	if (name)
		*name = NULL;
	if (pin)
		*pin = NULL;
	if (!ix || !pc || pc->state != FG_CERT_VERIFIED)
		return NULL;
	const struct tc_entry *e = tc_slot(ix, TC_PIN, pc->sha256, 32);
	if (e->kind) {
		found = e->t;
		mpin = e->key;
	}
	for (int i = 0; i < pc->nnames; i++) {
		e = tc_slot(ix, TC_NAME, (const unsigned char *)pc->names[i], strlen(pc->names[i]) + 1);
		if (!e->kind)
			continue;
		if (found && found != e->t) {
			*conflict = true;
			return NULL;
		}
		found = e->t;
		if (!mpin && !mname)
			mname = (const char *)e->key;
	}
	if (name)
		*name = mpin ? NULL : mname;
	if (pin)
		*pin = mpin;
	return found;
}
