/*
 * authres: the Authentication-Results header field of RFC 8601. Parses
 * hostile header values (the full grammar, and a cheap lenient read of the
 * authserv-id for removing forged copies of ours, RFC 8601 section 5) and
 * builds folded, correctly quoted values. Owns no state beyond a builder.
 */
#ifndef MAMORI_AUTH_AUTHRES_H
#define MAMORI_AUTH_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHRES_MAX_RESULTS 32 /* resinfo kept per header; RFC 8601 2.2 sets no limit */
#define AUTHRES_MAX_PROPS 8    /* propspec kept per resinfo */
/* RFC 5322 3.2.2 puts no bound on comment nesting; real headers nest 1-2 deep */
#define AUTHRES_MAX_COMMENT_DEPTH 32
/* RFC 5322 2.1.1: lines SHOULD be no more than 78 characters */
#define AUTHRES_LINE_MAX 78
/* the builder assumes the value follows "Authentication-Results: " on its line */
#define AUTHRES_NAME_COLUMN 24
/* the builder shortens attacker-supplied comments to this many bytes */
#define AUTHRES_COMMENT_MAX 200

struct authres_prop {
	char ptype[32];    /* lower-cased Keyword ("smtp", "header", ...); "" for the
	                      non-standard bare "name=value" some MTAs emit (action=none) */
	char property[64]; /* lower-cased Keyword ("mailfrom", "d", ...) */
	char value[512];   /* unquoted, quoted-pairs resolved; "" only if given as "" */
};

struct authres_result {
	char method[32];         /* lower-cased Keyword ("spf", "dkim", ...) */
	unsigned method_version; /* 0 when absent */
	char result[32];         /* lower-cased Keyword ("pass", "fail", ...) */
	char reason[256];        /* unquoted reason= value, "" when absent */
	struct authres_prop props[AUTHRES_MAX_PROPS];
	size_t nprops;
};

/* about 170 KB: keep it off small stacks */
struct authres {
	char authserv_id[256]; /* as written (case kept), unquoted */
	unsigned version;      /* 1 when absent (RFC 8601 2.2) */
	struct authres_result res[AUTHRES_MAX_RESULTS];
	size_t nres;           /* 0 for "none" */
	bool truncated;        /* results or properties beyond the maxima were ignored */
};

/*
 * Parses a header value value[0..len) (without the field name; folding
 * CRLFs may remain). CFWS is accepted wherever RFC 8601 2.2 allows it.
 * Returns 0, or -1 with a reason naming the byte offset in err (which may be
 * NULL); on error *ar_r holds whatever was read before the fault. Results
 * beyond AUTHRES_MAX_RESULTS (properties beyond AUTHRES_MAX_PROPS) are still
 * syntax-checked but dropped, and ar_r->truncated is set. Lenient only where
 * real MTAs deviate harmlessly: a trailing ';', "reason=" after properties,
 * bare "name=value" properties. Never blocks, never allocates.
 */
int authres_parse(const char *value, size_t len, struct authres *ar_r, char *err, size_t errlen);

/*
 * Reads just the authserv-id (token or quoted-string after optional CFWS),
 * cheaply and leniently, into id_r[idlen]. Returns 0, or -1 if none could be
 * read (empty, unterminated comment or quote, too long for id_r).
 */
int authres_authserv_id(const char *value, size_t len, char *id_r, size_t idlen);

/*
 * True when the value's authserv-id equals authserv_id, ASCII
 * case-insensitively (RFC 8601 5: such fields arriving from outside are
 * forged and must go). A value that cannot be read but still starts with our
 * id, optionally after whitespace and one '"', followed by anything that
 * cannot continue a token (end, space, ';', '(', '/', NUL, ...) counts as
 * ours too: removing it is the safe mistake. "mx.example.org.evil" is not
 * "mx.example.org".
 */
bool authres_is_ours(const char *value, size_t len, const char *authserv_id);

/*
 * Builder for our own header value. Method, result, ptype and property are
 * program keywords: characters outside [A-Za-z0-9_-] are dropped (and an add
 * whose method or result ends up empty is ignored together with its
 * properties). Reasons, comments and values may come from the attacker:
 * control characters become spaces, runs of spaces collapse, invalid UTF-8
 * bytes become '?', and they are quoted or escaped as needed. Results beyond
 * AUTHRES_MAX_RESULTS and properties beyond AUTHRES_MAX_PROPS are ignored, so
 * everything built parses back with authres_parse.
 */
struct authres_builder;

/* a new builder (never NULL; aborts on OOM); the id is copied */
struct authres_builder *authres_builder_new(const char *authserv_id);
/* appends a result; reason and comment may be NULL */
void authres_builder_add(struct authres_builder *b, const char *method, const char *result,
			 const char *reason, const char *comment);
/* adds ptype.property=value to the last result (ignored if there is none) */
void authres_builder_prop(struct authres_builder *b, const char *ptype, const char *property,
			  const char *value);
/*
 * Returns the folded header value as a heap string the caller frees
 * (xfree/free), without the field name and without a final line end; each
 * result starts a continuation line (eol then a tab); lines stay within
 * AUTHRES_LINE_MAX unless a single word is longer. eol is "\r\n" or "\n"
 * (anything else means "\r\n"). Frees the builder and sets *b to NULL.
 * With no results the value is "authserv-id; none" (RFC 8601 2.2).
 */
char *authres_builder_finish(struct authres_builder **b, const char *eol);
/* discards a builder without output; *b becomes NULL */
void authres_builder_free(struct authres_builder **b);

#endif
