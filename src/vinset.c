/* vinset.c: VIN normalisation and one tenant's VIN allowlist.
 *
 * Owns the hash set of exact VINs, the per-length prefix tables and the
 * allow-all flag, and the VIN file reader. A set is filled while a
 * configuration loads and is read-only afterwards, so lookups take no lock;
 * this file must never grow a set after it has been published, and must
 * never log (errors go to the caller's fg_errors).
 *
 * Layout: a VIN is 17 symbols of a 36-letter alphabet. The first 5 symbols
 * are packed base-36 into a 32-bit word (36^5 < 2^26) and the last 12 into a
 * 64-bit word (36^12 < 2^63), so a VIN is 12 bytes instead of 17 and a
 * comparison is three word compares. Empty slots have hi == UINT32_MAX,
 * which no VIN produces. Open addressing with linear probing over a power of
 * two table that doubles at a load factor of 0.7: at a million VINs that is
 * 2^21 slots * 12 bytes = 24 MiB, about 25 bytes per VIN.
 *
 * Prefixes (1..16 symbols) live in one sorted array per length, searched
 * with bsearch for each length in use: at most 16 binary searches over
 * typically a handful of entries, never a scan of the exact set.
 */
#define _GNU_SOURCE   /* getline, strnlen under -std=c11 */
#include "fleetgate.h"
#include "vinset.h"

#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define VINSET_EMPTY UINT32_MAX
#define VINSET_MIN_CAP 64
/* A bad VIN file can hold a million bad lines; report the first few and a
 * count rather than a million error lines. */
#define VINSET_MAX_FILE_ERRORS 20

struct vinslot {
	uint32_t hi;      /* symbols 0..4, base 36; VINSET_EMPTY = free slot */
	uint32_t lo_lo;   /* symbols 5..16, base 36, low word */
	uint32_t lo_hi;   /* ... high word: two u32 keep the slot 12 bytes */
};

struct vinprefixes {
	char (*v)[16];    /* sorted, each exactly LEN significant chars */
	size_t n, cap;
};

struct vinset {
	struct vinslot *slots;
	size_t cap;       /* power of two, or 0 before the first add */
	size_t count;
	size_t bytes;     /* allocated for slots */
	bool all;
	uint32_t prefix_lens;              /* bit L set: prefixes of length L exist */
	struct vinprefixes prefixes[17];   /* index = length 1..16 */
};

/* ---- normalisation ------------------------------------------------------ */

static bool vin_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Upper-cases C and returns it when it is A-Z or 0-9, else 0. */
static char vin_symbol(char c)
{
	if (c >= 'a' && c <= 'z')
		return (char)(c - 'a' + 'A');
	if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return c;
	return 0;
}

static void vin_trim(const char **in, size_t *len)
{
	while (*len > 0 && vin_space(**in)) {
		(*in)++;
		(*len)--;
	}
	while (*len > 0 && vin_space((*in)[*len - 1]))
		(*len)--;
}

bool vin_normalize(const char *in, size_t len, char out[18])
{
	if (!in)
		return false;
	vin_trim(&in, &len);
	if (len != FG_VIN_LEN)
		return false;
	for (size_t i = 0; i < FG_VIN_LEN; i++) {
		char c = vin_symbol(in[i]);
		if (!c)
			return false;
		out[i] = c;
	}
	out[FG_VIN_LEN] = '\0';
	return true;
}

/* ---- packing and hashing ------------------------------------------------ */

static unsigned vin_digit(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
}

/* VIN17 must be normalized; callers outside this file are trusted on that,
 * but a stray lower-case letter must not index outside 0..35, so anything
 * that is not a symbol packs to a value no normalized VIN can have. */
static bool vin_pack(const char *vin17, struct vinslot *out)
{
	uint32_t hi = 0;
	uint64_t lo = 0;
	for (int i = 0; i < FG_VIN_LEN; i++) {
		char c = vin17[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
		if (i < 5)
			hi = hi * 36 + vin_digit(c);
		else
			lo = lo * 36 + vin_digit(c);
	}
	out->hi = hi;
	out->lo_lo = (uint32_t)lo;
	out->lo_hi = (uint32_t)(lo >> 32);
	return true;
}

/* The packed VIN is already a dense integer, so a 64-bit finalizer
 * (splitmix64's, which passes avalanche tests) spreads it well and costs a
 * few multiplies: cheaper than SHA or SipHash, and no attacker can insert
 * into a set (VIN files are the operator's), only probe it, so a keyed hash
 * would buy nothing here. */
static uint64_t vin_hash(const struct vinslot *k)
{
	uint64_t x = ((uint64_t)k->lo_hi << 32 | k->lo_lo) ^ ((uint64_t)k->hi * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static bool vin_slot_eq(const struct vinslot *a, const struct vinslot *b)
{
	return a->hi == b->hi && a->lo_lo == b->lo_lo && a->lo_hi == b->lo_hi;
}

/* ---- the exact set ------------------------------------------------------ */

struct vinset *vinset_new(void)
{
	return calloc(1, sizeof(struct vinset));
}

void vinset_free(struct vinset *s)
{
	if (!s)
		return;
	free(s->slots);
	for (int l = 1; l <= 16; l++)
		free(s->prefixes[l].v);
	free(s);
}

/* Inserts K into a table known to have room; returns true when it was new. */
static bool vinset_insert(struct vinslot *slots, size_t cap, const struct vinslot *k)
{
	size_t mask = cap - 1;
	size_t i = (size_t)vin_hash(k) & mask;
	while (slots[i].hi != VINSET_EMPTY) {
		if (vin_slot_eq(&slots[i], k))
			return false;
		i = (i + 1) & mask;
	}
	slots[i] = *k;
	return true;
}

/* Tables of 2 MiB and more are 2 MiB aligned and marked for transparent
 * huge pages: a million-VIN table is then 12 page faults instead of 6000,
 * and random lookups miss the TLB far less (it roughly halved the load time
 * of a million VINs on a VM). Without THP it is an ordinary allocation. */
#define VINSET_HUGE ((size_t)2 << 20)
static struct vinslot *vinset_alloc_slots(size_t cap, size_t *bytes)
{
	size_t n = cap * sizeof(struct vinslot);
	struct vinslot *slots;
	if (n >= VINSET_HUGE) {
		n = (n + VINSET_HUGE - 1) & ~(VINSET_HUGE - 1);
		slots = aligned_alloc(VINSET_HUGE, n);
#ifdef MADV_HUGEPAGE
		if (slots)
			madvise(slots, n, MADV_HUGEPAGE);
#endif
	} else {
		slots = malloc(n);
	}
	if (slots)
		memset(slots, 0xff, n);  /* hi = VINSET_EMPTY */
	*bytes = n;
	return slots;
}

/* Moves every VIN into a table of NCAP slots (a power of two). */
static int vinset_rehash(struct vinset *s, size_t ncap)
{
	size_t bytes;
	struct vinslot *ns = vinset_alloc_slots(ncap, &bytes);
	if (!ns)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i].hi != VINSET_EMPTY)
			vinset_insert(ns, ncap, &s->slots[i]);
	free(s->slots);
	s->slots = ns;
	s->cap = ncap;
	s->bytes = bytes;
	return 0;
}

/* Makes room for COUNT VINs in all without rehashing on the way. */
static void vinset_reserve(struct vinset *s, size_t count)
{
	size_t cap = s->cap ? s->cap : VINSET_MIN_CAP;
	while (count * 10 > cap * 7)
		cap *= 2;
	if (cap > s->cap)
		vinset_rehash(s, cap);   /* on failure, vinset_add grows step by step */
}

static int vinset_grow(struct vinset *s)
{
	return vinset_rehash(s, s->cap ? s->cap * 2 : VINSET_MIN_CAP);
}

/* Adds a packed VIN; false only when memory ran out. */
static bool vinset_add_packed(struct vinset *s, const struct vinslot *k)
{
	/* count + 1 > 0.7 * cap, in integers */
	if ((s->count + 1) * 10 > s->cap * 7 && vinset_grow(s) < 0)
		return false;   /* the VIN stays denied, never wrongly allowed */
	if (vinset_insert(s->slots, s->cap, k))
		s->count++;
	return true;
}

void vinset_add(struct vinset *s, const char *vin17)
{
	struct vinslot k;
	if (s && vin17 && vin_pack(vin17, &k))
		vinset_add_packed(s, &k);
}

/* Loading a big file is one cache miss per VIN, and on the next line the
 * parser is too far ahead for the CPU to overlap them. Packing a batch of
 * VINs first and prefetching each home slot lets the misses overlap: it
 * cut the million-VIN load time by about half. */
#define VINSET_BATCH 32
struct vinbatch {
	struct vinslot k[VINSET_BATCH];
	int n;
};

static void vinbatch_flush(struct vinset *s, struct vinbatch *b)
{
	for (int i = 0; i < b->n; i++)
		vinset_add_packed(s, &b->k[i]);
	b->n = 0;
}

static void vinbatch_add(struct vinset *s, struct vinbatch *b, const char *vin17)
{
	struct vinslot *k = &b->k[b->n];
	if (!vin_pack(vin17, k))
		return;
	if (s->cap)
		__builtin_prefetch(&s->slots[(size_t)vin_hash(k) & (s->cap - 1)], 1);
	if (++b->n == VINSET_BATCH)
		vinbatch_flush(s, b);
}

static bool vinset_has_exact(const struct vinset *s, const char *vin17)
{
	struct vinslot k;
	if (!s->count || !vin_pack(vin17, &k))
		return false;
	size_t mask = s->cap - 1;
	size_t i = (size_t)vin_hash(&k) & mask;
	while (s->slots[i].hi != VINSET_EMPTY) {
		if (vin_slot_eq(&s->slots[i], &k))
			return true;
		i = (i + 1) & mask;
	}
	return false;
}

/* ---- prefixes ----------------------------------------------------------- */

/* Entries are NUL-padded to 16 bytes and one array holds one length, so
 * comparing all 16 bytes orders them exactly as comparing LEN bytes would. */
static int vinset_prefix_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

int vinset_add_prefix(struct vinset *s, const char *prefix, char *err, size_t errlen)
{
	const char *p = prefix ? prefix : "";
	size_t len = strlen(p);
	vin_trim(&p, &len);
	if (len == 1 && p[0] == '*') {
		s->all = true;
		return 0;
	}
	char key[16] = {0};
	bool ok = len >= 1 && len <= 16;
	for (size_t i = 0; i < len && ok; i++)
		ok = (key[i] = vin_symbol(p[i])) != 0;
	if (!ok) {
		/* quoted: the text may hold anything a file or client sent */
		char q[48];
		vin_quote(p, len, q, sizeof(q));
		snprintf(err, errlen, "VIN prefix \"%s\" must be 1 to 16 characters of A-Z and 0-9, or \"*\"", q);
		return -1;
	}
	struct vinprefixes *px = &s->prefixes[len];
	if (px->n && bsearch(key, px->v, px->n, sizeof(*px->v), vinset_prefix_cmp))
		return 0;
	if (px->n == px->cap) {
		size_t ncap = px->cap ? px->cap * 2 : 4;
		char (*nv)[16] = realloc(px->v, ncap * sizeof(*nv));
		if (!nv) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		px->v = nv;
		px->cap = ncap;
	}
	/* Insertion keeps the array sorted; prefix lists are written by hand
	 * and short, so the quadratic worst case does not matter. */
	size_t i = px->n;
	while (i > 0 && memcmp(px->v[i - 1], key, 16) > 0) {
		memcpy(px->v[i], px->v[i - 1], 16);
		i--;
	}
	memcpy(px->v[i], key, 16);
	px->n++;
	s->prefix_lens |= 1u << len;
	return 0;
}

static bool vinset_has_prefix(const struct vinset *s, const char *vin17)
{
	for (int len = 1; len <= 16; len++) {
		if (!(s->prefix_lens & (1u << len)))
			continue;
		char key[16] = {0};
		memcpy(key, vin17, (size_t)len);
		const struct vinprefixes *px = &s->prefixes[len];
		if (bsearch(key, px->v, px->n, sizeof(*px->v), vinset_prefix_cmp))
			return true;
	}
	return false;
}

/* ---- queries ------------------------------------------------------------ */

bool vinset_contains(const struct vinset *s, const char *vin17)
{
	if (!s || !vin17)
		return false;
	if (s->all)
		return true;
	if (vinset_has_exact(s, vin17))
		return true;
	return s->prefix_lens && strnlen(vin17, FG_VIN_LEN) == FG_VIN_LEN &&
	       vinset_has_prefix(s, vin17);
}

void vinset_digest(const struct vinset *s, unsigned char out[32])
{
	/* The exact set's slots are in hash order, which depends on the
	 * table's history: sum and xor of a mix of each VIN do not. */
	uint64_t sum = 0, x = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	memset(out, 0, 32);
	if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(h);
		return;
	}
	for (size_t i = 0; s && i < s->cap; i++) {
		if (s->slots[i].hi == VINSET_EMPTY)
			continue;
		uint64_t v = vin_hash(&s->slots[i]);
		sum += v;
		x ^= v * 0x9e3779b97f4a7c15ULL;
	}
	uint64_t head[4] = { s ? s->count : 0, sum, x, s && s->all };
	EVP_DigestUpdate(h, head, sizeof head);
	for (int len = 1; s && len <= 16; len++)
		for (size_t i = 0; i < s->prefixes[len].n; i++) {
			EVP_DigestUpdate(h, &len, sizeof len);
			EVP_DigestUpdate(h, s->prefixes[len].v[i], (size_t)len);
		}
	EVP_DigestFinal_ex(h, out, NULL);
	EVP_MD_CTX_free(h);
}

size_t vinset_count(const struct vinset *s)
{
	return s ? s->count : 0;
}

bool vinset_allows_all(const struct vinset *s)
{
	return s && s->all;
}

size_t vinset_memory(const struct vinset *s)
{
	if (!s)
		return 0;
	size_t m = sizeof(*s) + s->bytes;
	for (int l = 1; l <= 16; l++)
		m += s->prefixes[l].cap * sizeof(*s->prefixes[l].v);
	return m;
}

/* ---- VIN files ---------------------------------------------------------- */

void vin_quote(const char *in, size_t len, char *out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < len && i < 40 && n + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];
		out[n++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	if (len > 40 && n + 4 < outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

int vinset_load_file(struct vinset *s, const char *path, struct fg_errors *errs)
{
	/* Only a regular file: a device (/dev/zero) or a pipe would be read
	 * without end or block the load. O_NONBLOCK so opening a FIFO does
	 * not wait for a writer; it has no effect on reading a regular file.
	 * fstat on the opened file, so the type checked is the file read. */
	struct stat st;
	FILE *f = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		conf_errors_add(errs, path, 0, "cannot read VIN file: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_errors_add(errs, path, 0, "cannot read VIN file: not a regular file");
		goto fail;
	}
	if (!(f = fdopen(fd, "r"))) {
		conf_errors_add(errs, path, 0, "cannot read VIN file: %s", strerror(errno));
		goto fail;
	}
	/* A VIN line is 18 bytes: size the table once instead of doubling
	 * through a dozen rehashes. Comments make this an overestimate. */
	if (st.st_size > 0)
		vinset_reserve(s, s->count + (size_t)st.st_size / 18);
	struct vinbatch batch = {.n = 0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	int lineno = 0, bad = 0, rc = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		size_t len = (size_t)got;
		char *hash = memchr(line, '#', len);
		if (hash)
			len = (size_t)(hash - line);
		const char *p = line;
		vin_trim(&p, &len);
		if (len == 0)
			continue;
		char vin[18];
		if (vin_normalize(p, len, vin)) {
			vinbatch_add(s, &batch, vin);
			continue;
		}
		if (++bad <= VINSET_MAX_FILE_ERRORS) {
			char q[48];
			vin_quote(p, len, q, sizeof(q));
			conf_errors_add(errs, path, lineno, "malformed VIN \"%s\" (17 characters of A-Z and 0-9)", q);
		}
	}
	vinbatch_flush(s, &batch);
	if (ferror(f)) {
		conf_errors_add(errs, path, 0, "cannot read VIN file: %s", strerror(errno));
		rc = -1;
	}
	if (bad > VINSET_MAX_FILE_ERRORS)
		conf_errors_add(errs, path, 0, "%d more malformed VINs not listed", bad - VINSET_MAX_FILE_ERRORS);
	free(line);
	fclose(f);
	return rc;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}
