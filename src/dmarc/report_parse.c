/*
 * report_parse: aggregate-report XML -> struct agg_report, with expat.
 *
 * The parser is a small state machine over a fixed element tree: each known
 * element has a node id; a table per parent maps child names to node ids;
 * unknown and foreign-namespace elements are skipped with their subtree.
 * Text is collected only inside leaf elements, into one fixed buffer, and
 * converted when the leaf closes. Streaming: the report's head (metadata and
 * policy) is handed to the caller at the first <record>, each record as it
 * closes, from one reused record buffer with fixed auth arrays, so memory
 * per report is constant whatever its size. The first problem stops the
 * parse. agg_parse() collects the stream into a struct agg_report.
 */
#include <strings.h>
#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "dmarc/report_parse.h"

/* expat joins namespace URI and local name with this; it cannot occur in
 * a URI (XML 1.0 forbids U+0001 even as a character reference) */
#define NS_SEP '\x01'

#define NS_DMARC2 "urn:ietf:params:xml:ns:dmarc-2.0"   /* RFC 9990 */
#define NS_DMARC01 "http://dmarc.org/dmarc-xml/0.1"    /* RFC 7489 XSD */

/* raw text of one leaf before trimming; the longest field keeps 1023 bytes */
#define TEXT_CAP 4096
#define ERR_CAP 512
#define QUOTE_MAX 48 /* bytes of an offending value quoted in a message */
#define PARSE_CHUNK 65536 /* bytes handed to expat at a time */

enum node {
	N_SKIP = 0, /* unknown element: skipped with its subtree */
	N_DOC,
	N_FEEDBACK,
	N_VERSION,
	N_META,
	N_ORG,
	N_EMAIL,
	N_EXTRA,
	N_RID,
	N_DR,
	N_BEGIN,
	N_END,
	N_ERROR,
	N_GEN,
	N_POL,
	N_PDOMAIN,
	N_ADKIM,
	N_ASPF,
	N_P,
	N_SP,
	N_NP,
	N_PCT,
	N_FO,
	N_TESTING,
	N_DISC,
	N_REC,
	/* record scope: duplicates are checked per record */
	N_ROW,
	N_IP,
	N_COUNT,
	N_PE,
	N_DISP,
	N_PE_DKIM,
	N_PE_SPF,
	N_IDS,
	N_HFROM,
	N_EFROM,
	N_ETO,
	N_AR,
	N_REASON,
	N_DKIM,
	N_SPF,
	/* sub scope: duplicates are checked per reason / dkim / spf entry */
	N_RTYPE,
	N_RCOMMENT,
	N_DKIM_DOMAIN,
	N_DKIM_SEL,
	N_DKIM_RESULT,
	N_DKIM_HUMAN,
	N_SPF_DOMAIN,
	N_SPF_SCOPE,
	N_SPF_RESULT,
	N_SPF_HUMAN,
	N_MAX
};

_Static_assert(N_MAX <= 64, "seen mask is a uint64_t");

#define BIT(n) (UINT64_C(1) << (n))
#define RANGE_MASK(lo, hi) ((BIT(hi) - 1) & ~(BIT(lo) - 1)) /* bits lo..hi-1 */
#define REC_MASK RANGE_MASK(N_ROW, N_MAX)
#define SUB_MASK RANGE_MASK(N_RTYPE, N_MAX)
/* elements that may repeat inside their parent */
#define REPEAT_MASK (BIT(N_REC) | BIT(N_ERROR) | BIT(N_REASON) | BIT(N_DKIM) | BIT(N_SPF))

struct nodeinfo {
	const char *path; /* for messages, relative to <feedback> or <record> */
	uint16_t max;     /* leaf: longest value kept (bytes); 0: container */
};

#define FLD(s, f) ((uint16_t)(sizeof(((s *)0)->f) - 1))

static const struct nodeinfo info[N_MAX] = {
	[N_DOC] = { "", 0 },
	[N_FEEDBACK] = { "feedback", 0 },
	[N_VERSION] = { "version", 15 },
	[N_META] = { "report_metadata", 0 },
	[N_ORG] = { "report_metadata/org_name", FLD(struct agg_report, org_name) },
	[N_EMAIL] = { "report_metadata/email", FLD(struct agg_report, email) },
	[N_EXTRA] = { "report_metadata/extra_contact_info", FLD(struct agg_report, extra_contact) },
	[N_RID] = { "report_metadata/report_id", FLD(struct agg_report, report_id) },
	[N_DR] = { "report_metadata/date_range", 0 },
	[N_BEGIN] = { "report_metadata/date_range/begin", 20 },
	[N_END] = { "report_metadata/date_range/end", 20 },
	[N_ERROR] = { "report_metadata/error", FLD(struct agg_report, errors) },
	[N_GEN] = { "report_metadata/generator", FLD(struct agg_report, generator) },
	[N_POL] = { "policy_published", 0 },
	[N_PDOMAIN] = { "policy_published/domain", FLD(struct agg_report, domain) },
	[N_ADKIM] = { "policy_published/adkim", 8 },
	[N_ASPF] = { "policy_published/aspf", 8 },
	[N_P] = { "policy_published/p", FLD(struct agg_report, p) },
	[N_SP] = { "policy_published/sp", FLD(struct agg_report, sp) },
	[N_NP] = { "policy_published/np", FLD(struct agg_report, np) },
	[N_PCT] = { "policy_published/pct", 8 },
	[N_FO] = { "policy_published/fo", FLD(struct agg_report, fo) },
	[N_TESTING] = { "policy_published/testing", 8 },
	[N_DISC] = { "policy_published/discovery_method", FLD(struct agg_report, discovery_method) },
	[N_REC] = { "record", 0 },
	[N_ROW] = { "row", 0 },
	[N_IP] = { "row/source_ip", IP_STRLEN },
	[N_COUNT] = { "row/count", 24 },
	[N_PE] = { "row/policy_evaluated", 0 },
	[N_DISP] = { "row/policy_evaluated/disposition", FLD(struct agg_record, disposition) },
	[N_PE_DKIM] = { "row/policy_evaluated/dkim", FLD(struct agg_record, dkim_eval) },
	[N_PE_SPF] = { "row/policy_evaluated/spf", FLD(struct agg_record, spf_eval) },
	[N_REASON] = { "row/policy_evaluated/reason", 0 },
	[N_RTYPE] = { "row/policy_evaluated/reason/type", FLD(struct agg_reason, type) },
	[N_RCOMMENT] = { "row/policy_evaluated/reason/comment", FLD(struct agg_reason, comment) },
	[N_IDS] = { "identifiers", 0 },
	[N_HFROM] = { "identifiers/header_from", FLD(struct agg_record, header_from) },
	[N_EFROM] = { "identifiers/envelope_from", FLD(struct agg_record, envelope_from) },
	[N_ETO] = { "identifiers/envelope_to", FLD(struct agg_record, envelope_to) },
	[N_AR] = { "auth_results", 0 },
	[N_DKIM] = { "auth_results/dkim", 0 },
	[N_DKIM_DOMAIN] = { "auth_results/dkim/domain", FLD(struct agg_auth, domain) },
	[N_DKIM_SEL] = { "auth_results/dkim/selector", FLD(struct agg_auth, selector) },
	[N_DKIM_RESULT] = { "auth_results/dkim/result", FLD(struct agg_auth, result) },
	[N_DKIM_HUMAN] = { "auth_results/dkim/human_result", FLD(struct agg_auth, human) },
	[N_SPF] = { "auth_results/spf", 0 },
	[N_SPF_DOMAIN] = { "auth_results/spf/domain", FLD(struct agg_auth, domain) },
	[N_SPF_SCOPE] = { "auth_results/spf/scope", FLD(struct agg_auth, scope) },
	[N_SPF_RESULT] = { "auth_results/spf/result", FLD(struct agg_auth, result) },
	[N_SPF_HUMAN] = { "auth_results/spf/human_result", FLD(struct agg_auth, human) },
};

struct child {
	const char *name;
	enum node node;
};

/* children per parent, most frequent first */
static const struct child kids_doc[] = { { "feedback", N_FEEDBACK }, { NULL, 0 } };
static const struct child kids_feedback[] = {
	{ "record", N_REC }, { "report_metadata", N_META }, { "policy_published", N_POL },
	{ "version", N_VERSION }, { NULL, 0 }
};
static const struct child kids_meta[] = {
	{ "org_name", N_ORG }, { "email", N_EMAIL }, { "extra_contact_info", N_EXTRA },
	{ "report_id", N_RID }, { "date_range", N_DR }, { "error", N_ERROR },
	{ "generator", N_GEN }, { NULL, 0 }
};
static const struct child kids_dr[] = { { "begin", N_BEGIN }, { "end", N_END }, { NULL, 0 } };
static const struct child kids_pol[] = {
	{ "domain", N_PDOMAIN }, { "adkim", N_ADKIM }, { "aspf", N_ASPF }, { "p", N_P },
	{ "sp", N_SP }, { "np", N_NP }, { "pct", N_PCT }, { "fo", N_FO },
	{ "testing", N_TESTING }, { "discovery_method", N_DISC }, { NULL, 0 }
};
static const struct child kids_rec[] = {
	{ "row", N_ROW }, { "identifiers", N_IDS }, { "auth_results", N_AR },
	{ "identities", N_IDS }, /* pre-RFC draft spelling */
	{ NULL, 0 }
};
static const struct child kids_row[] = {
	{ "source_ip", N_IP }, { "count", N_COUNT }, { "policy_evaluated", N_PE }, { NULL, 0 }
};
static const struct child kids_pe[] = {
	{ "disposition", N_DISP }, { "dkim", N_PE_DKIM }, { "spf", N_PE_SPF },
	{ "reason", N_REASON }, { NULL, 0 }
};
static const struct child kids_reason[] = {
	{ "type", N_RTYPE }, { "comment", N_RCOMMENT }, { NULL, 0 }
};
static const struct child kids_ids[] = {
	{ "header_from", N_HFROM }, { "envelope_from", N_EFROM }, { "envelope_to", N_ETO },
	{ NULL, 0 }
};
static const struct child kids_ar[] = { { "dkim", N_DKIM }, { "spf", N_SPF }, { NULL, 0 } };
static const struct child kids_dkim[] = {
	{ "domain", N_DKIM_DOMAIN }, { "result", N_DKIM_RESULT }, { "selector", N_DKIM_SEL },
	{ "human_result", N_DKIM_HUMAN }, { NULL, 0 }
};
static const struct child kids_spf[] = {
	{ "domain", N_SPF_DOMAIN }, { "result", N_SPF_RESULT }, { "scope", N_SPF_SCOPE },
	{ "human_result", N_SPF_HUMAN }, { NULL, 0 }
};

static const struct child *const kids[N_MAX] = {
	[N_DOC] = kids_doc, [N_FEEDBACK] = kids_feedback, [N_META] = kids_meta,
	[N_DR] = kids_dr, [N_POL] = kids_pol, [N_REC] = kids_rec, [N_ROW] = kids_row,
	[N_PE] = kids_pe, [N_REASON] = kids_reason, [N_IDS] = kids_ids, [N_AR] = kids_ar,
	[N_DKIM] = kids_dkim, [N_SPF] = kids_spf,
};

/* keyword sets (RFC 7489 appendix C; RFC 9990 section 4) */
static const char *const kw_disposition[] = { "none", "quarantine", "reject", "pass", NULL };
static const char *const kw_policy[] = { "none", "quarantine", "reject", NULL };
static const char *const kw_eval[] = { "pass", "fail", NULL };
static const char *const kw_reason[] = {
	"forwarded", "sampled_out", "trusted_forwarder", "mailing_list", "local_policy",
	"policy_test_mode", "other", NULL
};
static const char *const kw_dkim_result[] = {
	"none", "pass", "fail", "policy", "neutral", "temperror", "permerror", NULL
};
static const char *const kw_spf_result[] = {
	"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror", NULL
};
static const char *const kw_scope[] = { "mfrom", "helo", NULL };
static const char *const kw_discovery[] = { "psl", "treewalk", NULL };

struct pstate {
	XML_Parser xp;
	struct agg_report *r;    /* &meta */
	struct agg_record *rec;  /* the open <record> (&recbuf), or NULL */
	struct agg_auth *auth;   /* the open <dkim>/<spf> auth result */
	struct agg_reason *reason;
	size_t max_records;
	unsigned long line_offset; /* lines stripped before the document */

	enum node stack[AGG_MAX_DEPTH + 2];
	unsigned sp;             /* stack[sp] is the innermost known element */
	unsigned depth;          /* all open elements, skipped ones included */
	unsigned skip;           /* > 0 while inside a skipped subtree */
	uint64_t seen;           /* elements met in the current scope */
	bool have_count;

	char rootns[256];        /* namespace of <feedback>, accepted as ours */
	size_t rootns_len;

	bool collect;            /* inside a leaf: text goes to text[] */
	size_t tlen;
	char text[TEXT_CAP + 1];

	bool not_utf8;           /* declared or detected another encoding */
	bool failed;
	char err[ERR_CAP];

	/* streaming */
	const struct agg_stream_ops *ops;
	void *ctx;
	bool begun;              /* ops->begin was called */
	int outcome;             /* 0, or 1 begin said stop, -2 a callback failed */
	struct agg_report meta;  /* the head; rec stays NULL, nrec counts records */
	struct agg_record recbuf;
	struct agg_auth dkim[AGG_MAX_AUTH], spf[AGG_MAX_AUTH];
};

static unsigned long cur_line(struct pstate *s)
{
	return (unsigned long)XML_GetCurrentLineNumber(s->xp) + s->line_offset;
}

static void stop(struct pstate *s)
{
	s->failed = true;
	XML_StopParser(s->xp, XML_FALSE);
}

static void failf(struct pstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(struct pstate *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	stop(s);
}

/* "record 3: row/source_ip: <message> (line 40)" */
static void field_fail(struct pstate *s, enum node n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void field_fail(struct pstate *s, enum node n, const char *fmt, ...)
{
	if (s->failed)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n >= N_REC && s->rec != NULL)
		snprintf(s->err, sizeof s->err, "record %zu: %s: %s (line %lu)", s->r->nrec,
			 info[n].path, msg, cur_line(s));
	else
		snprintf(s->err, sizeof s->err, "%s: %s (line %lu)", info[n].path, msg, cur_line(s));
	stop(s);
}

/* a value for a message: quoted, shortened at a character boundary; the
 * value is already valid UTF-8 without control characters, but quotes and
 * backslashes are escaped so the message stays unambiguous */
static const char *quote(const char *v, char *out, size_t outlen)
{
	size_t o = 0, i = 0;
	out[o++] = '"';
	for (; v[i] != '\0' && o + 6 < outlen && i < QUOTE_MAX; i++) {
		if (v[i] == '"' || v[i] == '\\')
			out[o++] = '\\';
		out[o++] = v[i];
	}
	if (v[i] != '\0') {
		/* do not cut a multi-byte character in two */
		while (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
			o--;
		if (o > 1 && (unsigned char)out[o - 1] >= 0xc0)
			o--;
		out[o++] = '.';
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/*
 * Trims the collected text, collapses each whitespace run to one space and
 * checks it is valid UTF-8 without control characters (C0 other than
 * whitespace, DEL, C1). In place. 0, or -1 with a reason.
 */
static int normalise(char *t, size_t *len_r, const char **why_r)
{
	const unsigned char *in = (const unsigned char *)t;
	size_t n = *len_r, i = 0, o = 0;
	bool space = false;
	while (i < n) {
		unsigned c = in[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = o > 0;
			i++;
			continue;
		}
		if (space) {
			t[o++] = ' ';
			space = false;
		}
		if (c >= 0x20 && c < 0x7f) {
			t[o++] = (char)c;
			i++;
			continue;
		}
		if (c < 0x80) {
			*why_r = "control character";
			return -1;
		}
		/* one UTF-8 sequence: length, range of the first continuation byte */
		size_t len;
		unsigned lo = 0x80, hi = 0xbf, cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
			if (c == 0xe0)
				lo = 0xa0; /* overlong */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f; /* beyond U+10FFFF */
		} else {
			*why_r = "invalid UTF-8";
			return -1;
		}
		if (i + len > n) {
			*why_r = "invalid UTF-8";
			return -1;
		}
		for (size_t k = 1; k < len; k++) {
			unsigned b = in[i + k];
			if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) {
				*why_r = "invalid UTF-8";
				return -1;
			}
			cp = (cp << 6) | (b & 0x3f);
		}
		if (cp >= 0x80 && cp <= 0x9f) {
			*why_r = "control character";
			return -1;
		}
		memmove(t + o, in + i, len);
		o += len;
		i += len;
	}
	t[o] = '\0';
	*len_r = o;
	return 0;
}

static void lower(char *t)
{
	for (; *t; t++)
		if (*t >= 'A' && *t <= 'Z')
			*t = (char)(*t - 'A' + 'a');
}

/* copies the value (already checked against the field's max) */
static void put(char *dst, const char *v, size_t len)
{
	memcpy(dst, v, len);
	dst[len] = '\0';
}

/* matches a keyword case-insensitively; stores it lower-case. Empty is
 * stored as "" when allow_empty. 0 or -1 (failed) */
static int put_kw(struct pstate *s, enum node n, char *dst, const char *const *kw,
		  bool allow_empty)
{
	char q[QUOTE_MAX + 16];
	if (s->tlen == 0) {
		if (allow_empty) {
			dst[0] = '\0';
			return 0;
		}
		field_fail(s, n, "empty");
		return -1;
	}
	lower(s->text);
	for (; *kw; kw++) {
		if (strcmp(s->text, *kw) == 0) {
			put(dst, *kw, strlen(*kw));
			return 0;
		}
	}
	field_fail(s, n, "unknown value %s", quote(s->text, q, sizeof q));
	return -1;
}

/* a decimal number without sign, spaces already trimmed; with fraction, a
 * fractional part is allowed and dropped (NetEase writes "1337270400.0" for
 * dates). 0, or -1 with the reason in the message */
static int get_uint(struct pstate *s, enum node n, uint64_t max, bool fraction, uint64_t *v_r)
{
	char q[QUOTE_MAX + 16];
	const char *t = s->text;
	uint64_t v = 0;
	if (*t == '\0') {
		field_fail(s, n, "empty");
		return -1;
	}
	for (; *t; t++) {
		if (fraction && *t == '.' && t > s->text && t[1] != '\0' &&
		    strspn(t + 1, "0123456789") == strlen(t + 1))
			break;
		if (*t < '0' || *t > '9') {
			field_fail(s, n, "%s is not a non-negative integer", quote(s->text, q, sizeof q));
			return -1;
		}
		unsigned d = (unsigned)(*t - '0');
		if (v > (max - d) / 10) {
			field_fail(s, n, "%s is out of range (at most %llu)", quote(s->text, q, sizeof q),
				   (unsigned long long)max);
			return -1;
		}
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* the text of a leaf that just closed, normalised, into the model */
static void leaf(struct pstate *s, enum node n)
{
	struct agg_report *r = s->r;
	const char *why;
	char q[QUOTE_MAX + 16];
	uint64_t v;

	if (normalise(s->text, &s->tlen, &why) < 0) {
		field_fail(s, n, "%s", why);
		return;
	}
	if (s->tlen > info[n].max) {
		field_fail(s, n, "longer than %u bytes", (unsigned)info[n].max);
		return;
	}
	const char *t = s->text;
	size_t len = s->tlen;

	switch (n) {
	case N_VERSION:
		if (t[0] == '2')
			r->format = AGG_RFC9990;
		break;
	case N_ORG:
		put(r->org_name, t, len);
		break;
	case N_EMAIL:
		put(r->email, t, len);
		break;
	case N_EXTRA:
		put(r->extra_contact, t, len);
		break;
	case N_RID:
		if (len == 0) {
			field_fail(s, n, "empty");
			return;
		}
		put(r->report_id, t, len);
		break;
	case N_BEGIN:
	case N_END:
		if (get_uint(s, n, (uint64_t)AGG_MAX_YEAR_2100, true, &v) < 0)
			return;
		if (n == N_BEGIN)
			r->date_begin = (int64_t)v;
		else
			r->date_end = (int64_t)v;
		break;
	case N_ERROR: {
		if (len == 0)
			break;
		size_t have = strlen(r->errors);
		size_t sep = have ? 2 : 0;
		if (have + sep + len >= sizeof r->errors) {
			field_fail(s, n, "errors longer than %zu bytes in all", sizeof r->errors - 1);
			return;
		}
		if (sep)
			memcpy(r->errors + have, "; ", 2);
		put(r->errors + have + sep, t, len);
		break;
	}
	case N_GEN:
		put(r->generator, t, len);
		break;
	case N_PDOMAIN:
		if (len == 0) {
			field_fail(s, n, "empty");
			return;
		}
		put(r->domain, t, len);
		lower(r->domain);
		break;
	case N_ADKIM:
	case N_ASPF: {
		char c = 0;
		if (len == 1 && (t[0] == 'r' || t[0] == 'R' || t[0] == 's' || t[0] == 'S'))
			c = (char)(t[0] | 0x20);
		else if (len != 0) {
			field_fail(s, n, "unknown value %s", quote(t, q, sizeof q));
			return;
		}
		if (n == N_ADKIM)
			r->adkim = c;
		else
			r->aspf = c;
		break;
	}
	case N_P:
		put_kw(s, n, r->p, kw_policy, true);
		break;
	case N_SP:
		put_kw(s, n, r->sp, kw_policy, true);
		break;
	case N_NP:
		put_kw(s, n, r->np, kw_policy, true);
		break;
	case N_PCT:
		if (len == 0)
			r->pct = -1;
		else if (get_uint(s, n, 100, false, &v) == 0)
			r->pct = (int)v;
		break;
	case N_FO:
		put(r->fo, t, len);
		break;
	case N_TESTING:
		if (len == 1 && (t[0] == 'y' || t[0] == 'Y' || t[0] == 'n' || t[0] == 'N'))
			r->testing = (char)(t[0] | 0x20);
		else if (len != 0)
			field_fail(s, n, "unknown value %s", quote(t, q, sizeof q));
		break;
	case N_DISC:
		put_kw(s, n, r->discovery_method, kw_discovery, true);
		break;
	case N_IP:
		if (len == 0) {
			field_fail(s, n, "empty");
			return;
		}
		if (ip_parse_n(t, len, &s->rec->source_ip) < 0) {
			field_fail(s, n, "%s is not an IP address", quote(t, q, sizeof q));
			return;
		}
		ip_unmap(&s->rec->source_ip);
		break;
	case N_COUNT:
		if (get_uint(s, n, AGG_MAX_COUNT, false, &v) == 0) {
			s->rec->count = v;
			s->have_count = true;
		}
		break;
	case N_DISP:
		put_kw(s, n, s->rec->disposition, kw_disposition, false);
		break;
	case N_PE_DKIM:
		put_kw(s, n, s->rec->dkim_eval, kw_eval, true);
		break;
	case N_PE_SPF:
		put_kw(s, n, s->rec->spf_eval, kw_eval, true);
		break;
	case N_RTYPE:
		put_kw(s, n, s->reason->type, kw_reason, true);
		break;
	case N_RCOMMENT:
		put(s->reason->comment, t, len);
		break;
	case N_HFROM:
		put(s->rec->header_from, t, len);
		lower(s->rec->header_from);
		break;
	case N_EFROM:
		put(s->rec->envelope_from, t, len);
		break;
	case N_ETO:
		put(s->rec->envelope_to, t, len);
		break;
	case N_DKIM_DOMAIN:
	case N_SPF_DOMAIN:
		put(s->auth->domain, t, len);
		lower(s->auth->domain);
		break;
	case N_DKIM_SEL:
		put(s->auth->selector, t, len);
		break;
	case N_DKIM_RESULT:
		put_kw(s, n, s->auth->result, kw_dkim_result, false);
		break;
	case N_SPF_RESULT:
		/* "hardfail" is not an RFC 7208 result but reporters write it */
		if (len == 8 && strcasecmp(t, "hardfail") == 0)
			put(s->auth->result, "fail", 4);
		else
			put_kw(s, n, s->auth->result, kw_spf_result, false);
		break;
	case N_SPF_SCOPE:
		put_kw(s, n, s->auth->scope, kw_scope, true);
		break;
	case N_DKIM_HUMAN:
	case N_SPF_HUMAN:
		put(s->auth->human, t, len);
		break;
	default:
		break;
	}
}

static void init_auth(struct agg_auth *a)
{
	a->domain[0] = a->selector[0] = a->scope[0] = a->result[0] = a->human[0] = '\0';
}

/* the caller's callback asked to stop: quietly (1) or failing (-2) */
static void caller_stop(struct pstate *s, int outcome, const char *why)
{
	if (s->failed)
		return;
	s->outcome = outcome;
	snprintf(s->err, sizeof s->err, "%s", why);
	stop(s);
}

/*
 * The head (report_metadata and policy_published) is complete: at the
 * first <record>, or at </feedback> for a report without records. Checks
 * what the head must hold, then hands it to ops->begin. where says when
 * ("" or " before the first record": a head after the records is refused,
 * no reporter writes one). 0, or -1 when the parse stops.
 */
static int begin_report(struct pstate *s, const char *where)
{
	struct agg_report *r = s->r;
	if (!(s->seen & BIT(N_META)))
		field_fail(s, N_META, "missing%s", where);
	else if (!(s->seen & BIT(N_RID)))
		field_fail(s, N_RID, "missing%s", where);
	else if (!(s->seen & BIT(N_BEGIN)))
		field_fail(s, N_BEGIN, "missing%s", where);
	else if (!(s->seen & BIT(N_END)))
		field_fail(s, N_END, "missing%s", where);
	else if (r->date_begin > r->date_end)
		field_fail(s, N_DR, "begin %lld is after end %lld", (long long)r->date_begin,
			   (long long)r->date_end);
	else if (!(s->seen & BIT(N_POL)))
		field_fail(s, N_POL, "missing%s", where);
	else if (!(s->seen & BIT(N_PDOMAIN)))
		field_fail(s, N_PDOMAIN, "missing%s", where);
	if (s->failed)
		return -1;
	s->begun = true;
	int rc = s->ops->begin != NULL ? s->ops->begin(s->ctx, r) : 0;
	if (rc == 1)
		caller_stop(s, 1, "stopped by the begin callback");
	else if (rc != 0)
		caller_stop(s, -2, "stopped by the begin callback");
	return s->failed ? -1 : 0;
}

/* a known element opens */
static void open_node(struct pstate *s, enum node n)
{
	struct agg_report *r = s->r;

	if (!(REPEAT_MASK & BIT(n))) {
		if (s->seen & BIT(n)) {
			field_fail(s, n, "element appears twice");
			return;
		}
		s->seen |= BIT(n);
	}
	switch (n) {
	case N_REC: {
		if (!s->begun && begin_report(s, " before the first record") < 0)
			return;
		if (r->nrec >= s->max_records) {
			failf(s, "more than %zu records (the limit) (line %lu)", s->max_records,
			      cur_line(s));
			return;
		}
		r->nrec++;
		struct agg_record *c = &s->recbuf;
		/* only the head: reason[] entries are initialised as they are added */
		memset(&c->source_ip, 0, sizeof c->source_ip);
		c->count = 0;
		c->disposition[0] = c->dkim_eval[0] = c->spf_eval[0] = '\0';
		c->nreason = 0;
		c->header_from[0] = c->envelope_from[0] = c->envelope_to[0] = '\0';
		c->dkim_first = c->spf_first = 0;
		c->ndkim = c->nspf = 0;
		s->rec = c;
		s->have_count = false;
		s->seen &= ~REC_MASK;
		break;
	}
	case N_DKIM:
	case N_SPF: {
		unsigned *cnt = n == N_DKIM ? &s->rec->ndkim : &s->rec->nspf;
		if (*cnt >= AGG_MAX_AUTH) {
			field_fail(s, n, "more than %d results", AGG_MAX_AUTH);
			return;
		}
		s->auth = n == N_DKIM ? &s->dkim[(*cnt)++] : &s->spf[(*cnt)++];
		init_auth(s->auth);
		s->seen &= ~SUB_MASK;
		break;
	}
	case N_REASON:
		if (s->rec->nreason >= AGG_MAX_REASONS) {
			field_fail(s, n, "more than %d reasons", AGG_MAX_REASONS);
			return;
		}
		s->reason = &s->rec->reason[s->rec->nreason++];
		s->reason->type[0] = s->reason->comment[0] = '\0';
		s->seen &= ~SUB_MASK;
		break;
	default:
		if (info[n].max > 0) {
			s->collect = true;
			s->tlen = 0;
		}
		break;
	}
}

/* a known element closes */
static void close_node(struct pstate *s, enum node n)
{
	struct agg_report *r = s->r;

	if (s->collect) {
		s->collect = false;
		leaf(s, n);
		return;
	}
	switch (n) {
	case N_REC:
		if (!(s->seen & BIT(N_IP)))
			field_fail(s, N_IP, "missing");
		else if (!s->have_count)
			field_fail(s, N_COUNT, "missing");
		else if (!(s->seen & BIT(N_DISP)))
			field_fail(s, N_DISP, "missing");
		else if (r->total_count > UINT64_MAX - s->rec->count)
			field_fail(s, N_COUNT, "total count overflows");
		else {
			r->total_count += s->rec->count;
			if (s->ops->record != NULL &&
			    s->ops->record(s->ctx, r, s->rec, s->dkim, s->spf) != 0)
				caller_stop(s, -2, "stopped by the record callback");
		}
		s->rec = NULL;
		break;
	case N_DKIM:
	case N_SPF:
		if (!(s->seen & BIT(n == N_DKIM ? N_DKIM_RESULT : N_SPF_RESULT)))
			field_fail(s, n == N_DKIM ? N_DKIM_RESULT : N_SPF_RESULT, "missing");
		s->auth = NULL;
		break;
	case N_REASON:
		/* <reason><type></type><comment></comment></reason> says nothing */
		if (s->reason->type[0] == '\0' && s->reason->comment[0] == '\0')
			s->rec->nreason--;
		s->reason = NULL;
		break;
	case N_FEEDBACK:
		/* a report without records starts (and ends) here */
		if (!s->begun)
			begin_report(s, "");
		break;
	default:
		break;
	}
}

/* is this namespace URI (len bytes) one of ours? */
static bool our_ns(struct pstate *s, const char *uri, size_t len)
{
	if (len == s->rootns_len && memcmp(uri, s->rootns, len) == 0)
		return true;
	return (len == sizeof NS_DMARC2 - 1 && memcmp(uri, NS_DMARC2, len) == 0) ||
	       (len == sizeof NS_DMARC01 - 1 && memcmp(uri, NS_DMARC01, len) == 0);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct pstate *s = ud;
	if (s->failed)
		return;
	if (++s->depth > AGG_MAX_DEPTH) {
		failf(s, "line %lu: XML nesting deeper than %d elements", cur_line(s), AGG_MAX_DEPTH);
		return;
	}
	if (s->skip) {
		s->skip++;
		return;
	}
	const char *local = strrchr(name, NS_SEP);
	size_t urilen = 0;
	if (local != NULL) {
		urilen = (size_t)(local - name);
		local++;
	} else {
		local = name;
	}
	enum node parent = s->stack[s->sp];
	if (parent == N_DOC) {
		if (strcmp(local, "feedback") != 0) {
			char q[QUOTE_MAX + 16];
			failf(s, "line %lu: not a DMARC aggregate report (root element %s)",
			      cur_line(s), quote(local, q, sizeof q));
			return;
		}
		/* the root's namespace is ours, whatever variant a reporter used */
		if (urilen < sizeof s->rootns) {
			memcpy(s->rootns, name, urilen);
			s->rootns_len = urilen;
		}
		if (urilen == sizeof NS_DMARC2 - 1 && memcmp(name, NS_DMARC2, urilen) == 0)
			s->r->format = AGG_RFC9990;
	} else if (urilen != 0 && !our_ns(s, name, urilen)) {
		s->skip = 1; /* an extension in a foreign namespace */
		return;
	}
	enum node n = N_SKIP;
	for (const struct child *c = kids[parent]; c != NULL && c->name != NULL; c++) {
		if (strcmp(c->name, local) == 0) {
			n = c->node;
			break;
		}
	}
	if (n == N_SKIP) {
		s->skip = 1;
		return;
	}
	s->stack[++s->sp] = n;
	open_node(s, n);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct pstate *s = ud;
	if (s->failed)
		return;
	s->depth--;
	if (s->skip) {
		s->skip--;
		return;
	}
	enum node n = s->stack[s->sp--];
	close_node(s, n);
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
	struct pstate *s = ud;
	if (!s->collect || s->skip || s->failed)
		return;
	if ((size_t)len > TEXT_CAP - s->tlen) {
		field_fail(s, s->stack[s->sp], "longer than %u bytes", (unsigned)info[s->stack[s->sp]].max);
		return;
	}
	memcpy(s->text + s->tlen, t, (size_t)len);
	s->tlen += (size_t)len;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	struct pstate *s = ud;
	failf(s, "line %lu: DTD not allowed (<!DOCTYPE> in a report)", cur_line(s));
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
				   const XML_Char *value, int value_length, const XML_Char *base,
				   const XML_Char *sysid, const XML_Char *pubid,
				   const XML_Char *notation)
{
	struct pstate *s = ud;
	failf(s, "line %lu: entity declarations not allowed", cur_line(s));
}

static void XMLCALL on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding,
			       int standalone)
{
	struct pstate *s = ud;
	if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
		s->not_utf8 = true;
}

/* windows-1252, which AOL and others declare; expat knows only UTF-8,
 * UTF-16, ISO-8859-1 and US-ASCII. Bytes 0x80-0x9f differ from Latin-1;
 * the five undefined ones are errors. */
static const unsigned short cp1252_hi[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

static int XMLCALL on_unknown_encoding(void *ud, const XML_Char *name, XML_Encoding *enc)
{
	if (strcasecmp(name, "windows-1252") != 0 && strcasecmp(name, "cp1252") != 0 &&
	    strcasecmp(name, "x-cp1252") != 0)
		return XML_STATUS_ERROR;
	for (int i = 0; i < 256; i++)
		enc->map[i] = i;
	for (int i = 0; i < 32; i++)
		enc->map[0x80 + i] = cp1252_hi[i] ? cp1252_hi[i] : -1;
	enc->data = NULL;
	enc->convert = NULL;
	enc->release = NULL;
	return XML_STATUS_OK;
}

/* is the byte sequence at p (n bytes left) a broken UTF-8 sequence? */
static bool bad_utf8_at(const unsigned char *p, size_t n)
{
	char tmp[8];
	size_t k = n < 4 ? n : 4;
	if (k == 0 || p[0] < 0x80)
		return false;
	memcpy(tmp, p, k);
	/* a valid sequence may be shorter than k: check just its own length */
	size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	if (len > k)
		return true;
	const char *why;
	return normalise(tmp, &len, &why) < 0 && strcmp(why, "invalid UTF-8") == 0;
}

/* the message after expat refused the document */
static void xml_error(struct pstate *s, const unsigned char *doc, size_t len)
{
	enum XML_Error code = XML_GetErrorCode(s->xp);
	unsigned long line = cur_line(s);
	XML_Index at = XML_GetCurrentByteIndex(s->xp);

	if (code == XML_ERROR_INVALID_TOKEN && !s->not_utf8 && at >= 0 && (size_t)at < len &&
	    bad_utf8_at(doc + at, len - (size_t)at)) {
		if (s->collect)
			field_fail(s, s->stack[s->sp], "invalid UTF-8 (byte 0x%02x)", doc[at]);
		else
			failf(s, "line %lu: XML: invalid UTF-8 (byte 0x%02x)", line, doc[at]);
		return;
	}
	const char *msg = XML_ErrorString(code);
	if (s->sp > 0 && s->stack[s->sp] == N_REC && s->rec != NULL)
		failf(s, "line %lu: XML: %s (in record %zu)", line, msg ? msg : "error", s->r->nrec);
	else if (s->sp > 0 && s->stack[s->sp] > N_REC && s->rec != NULL)
		failf(s, "line %lu: XML: %s (in record %zu, %s)", line, msg ? msg : "error",
		      s->r->nrec, info[s->stack[s->sp]].path);
	else if (s->sp > 1)
		failf(s, "line %lu: XML: %s (in %s)", line, msg ? msg : "error",
		      info[s->stack[s->sp]].path);
	else
		failf(s, "line %lu: XML: %s", line, msg ? msg : "error");
}

int agg_parse_stream(const void *xml, size_t len, const struct agg_limits *lim,
		     const struct agg_stream_ops *ops, void *ctx, char *err, size_t errlen)
{
	const unsigned char *p = xml;
	struct pstate *s = xcalloc(1, sizeof *s);
	int rc = -1;

	s->ops = ops;
	s->ctx = ctx;
	s->max_records = lim && lim->max_records ? lim->max_records : AGG_DEFAULT_MAX_RECORDS;
	if (s->max_records > AGG_MAX_RECORDS_CEILING)
		s->max_records = AGG_MAX_RECORDS_CEILING;

	/* a UTF-8 BOM, then whitespace before the XML declaration (strict XML
	 * refuses it; some reporters write it) */
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		p += 3;
		len -= 3;
	}
	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		if (*p == '\n')
			s->line_offset++;
		p++;
		len--;
	}
	if (len == 0) {
		snprintf(s->err, sizeof s->err, "empty input: not a report");
		goto out;
	}
	/* text that cannot be XML in any encoding expat reads (UTF-16 starts
	 * with a BOM or a NUL byte): say so rather than "syntax error" */
	if (p[0] != '<' && p[0] >= 0x20 && p[0] < 0x7f) {
		snprintf(s->err, sizeof s->err, "not XML: does not start with '<' (line %lu)",
			 s->line_offset + 1);
		goto out;
	}

	s->xp = XML_ParserCreateNS(NULL, NS_SEP);
	if (s->xp == NULL)
		xmem_fail(0);
	s->r = &s->meta;
	s->r->format = AGG_RFC7489;
	s->r->pct = -1;
	s->stack[0] = N_DOC;

	XML_SetUserData(s->xp, s);
	XML_SetElementHandler(s->xp, on_start, on_end);
	XML_SetCharacterDataHandler(s->xp, on_text);
	XML_SetStartDoctypeDeclHandler(s->xp, on_doctype);
	XML_SetEntityDeclHandler(s->xp, on_entity_decl);
	XML_SetXmlDeclHandler(s->xp, on_xmldecl);
	XML_SetUnknownEncodingHandler(s->xp, on_unknown_encoding, NULL);
	if (len >= 2 && (p[0] == 0 || p[1] == 0 || p[0] == 0xfe || p[0] == 0xff))
		s->not_utf8 = true; /* UTF-16 */
	XML_SetParamEntityParsing(s->xp, XML_PARAM_ENTITY_PARSING_NEVER);

	/* expat copies what it is given into its own buffer: small chunks keep
	 * that buffer small (no mmap and page faults per report) and hot */
	size_t off = 0;
	do {
		size_t chunk = len - off > PARSE_CHUNK ? PARSE_CHUNK : len - off;
		bool final = off + chunk == len;
		if (XML_Parse(s->xp, (const char *)p + off, (int)chunk, final) != XML_STATUS_OK) {
			if (!s->failed)
				xml_error(s, p, len);
			break;
		}
		off += chunk;
	} while (off < len);
	XML_ParserFree(s->xp);
	if (s->failed) {
		rc = s->outcome != 0 ? s->outcome : -1;
	} else if (!s->begun) {
		/* cannot happen: </feedback> begins; kept for safety */
		snprintf(s->err, sizeof s->err, "feedback: missing");
	} else if (ops->end != NULL && ops->end(ctx, s->r) != 0) {
		snprintf(s->err, sizeof s->err, "stopped by the end callback");
		rc = -2;
	} else {
		rc = 0;
	}
out:
	if (rc != 0 && rc != 1 && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", s->err[0] ? s->err : "report refused");
	xfree(s);
	return rc;
}

/* agg_parse: the stream collected into one struct agg_report */

static int collect_record(void *ctx, const struct agg_report *meta, const struct agg_record *rec,
			  const struct agg_auth *dkim, const struct agg_auth *spf)
{
	struct agg_report *r = ctx;
	struct agg_record *c = agg_report_add_record(r);
	size_t dkim_first = c->dkim_first, spf_first = c->spf_first;
	(void)meta;
	*c = *rec;
	c->dkim_first = dkim_first;
	c->spf_first = spf_first;
	c->ndkim = c->nspf = 0;
	for (unsigned i = 0; i < rec->ndkim; i++)
		*agg_report_add_dkim(r) = dkim[i];
	for (unsigned i = 0; i < rec->nspf; i++)
		*agg_report_add_spf(r) = spf[i];
	return 0;
}

static int collect_end(void *ctx, const struct agg_report *meta)
{
	struct agg_report *r = ctx;
	struct agg_report keep = *r;
	/* the head as it ended, with the records collected here */
	*r = *meta;
	r->rec = keep.rec;
	r->nrec = keep.nrec;
	r->caprec = keep.caprec;
	r->dkim_pool = keep.dkim_pool;
	r->ndkim_pool = keep.ndkim_pool;
	r->capdkim = keep.capdkim;
	r->spf_pool = keep.spf_pool;
	r->nspf_pool = keep.nspf_pool;
	r->capspf = keep.capspf;
	return 0;
}

int agg_parse(const void *xml, size_t len, const struct agg_limits *lim,
	      struct agg_report **r_r, char *err, size_t errlen)
{
	static const struct agg_stream_ops collect = {
		.begin = NULL, .record = collect_record, .end = collect_end,
	};
	struct agg_report *r = agg_report_new();
	*r_r = NULL;
	if (agg_parse_stream(xml, len, lim, &collect, r, err, errlen) != 0) {
		agg_report_free(&r);
		return -1;
	}
	*r_r = r;
	return 0;
}
