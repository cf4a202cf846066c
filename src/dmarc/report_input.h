/*
 * report_input: finds DMARC reports in what an operator points us at and
 * unpacks them. It walks files and directories (Maildir, mbox, .eml, .xml,
 * .gz, .zip, .zlib, detected by content), decompresses with a per-item size
 * cap, pulls report attachments out of mail with GMime, and hands each
 * report (or the reason there is none) to a callback. It parses no XML and
 * owns no state between calls beyond GMime's one-time initialisation.
 */
#ifndef MAMORI_DMARC_REPORT_INPUT_H
#define MAMORI_DMARC_REPORT_INPUT_H

#include <stddef.h>

/* default and hard ceiling of decompressed bytes per item (zip/gzip bombs);
 * the default and the ceiling match reports.max_decompressed_bytes */
#define RIN_DEFAULT_MAX_DECOMPRESSED ((size_t)100 * 1024 * 1024)
#define RIN_MAX_DECOMPRESSED_CEILING ((size_t)4 * 1024 * 1024 * 1024)
/* one mail bigger than this is refused, not parsed (RFC 5322 sets no limit) */
#define RIN_MAX_MESSAGE (128u * 1024 * 1024)
/* archive members looked at per zip; beyond that one error item is emitted */
#define RIN_MAX_MEMBERS 1000
/* containers inside containers (mail > zip > gz > gz): deeper is an error */
#define RIN_MAX_NESTING 4
/* directory depth followed below each path given */
#define RIN_MAX_DIR_DEPTH 32
/* bytes kept of a source name built from attachment and member names */
#define RIN_MAX_SOURCE 1024

enum rin_kind {
	RIN_AGGREGATE = 1, /* data is the (decompressed) aggregate report XML */
	RIN_FAILURE,       /* data is a whole ARF message (feedback-type auth-failure) */
	RIN_ERROR,         /* nothing usable here; error says why */
};

/*
 * One thing found. Every pointer stays valid only during the callback.
 * source: "path", "path:member", "path:attachment[:member]" for a mail
 *         file, "path#msgN[:attachment...]" for message N (1-based) of an
 *         mbox; an attachment without a file name is "partN" (N counts the
 *         leaf MIME parts from 1), a zip member without a name "memberN";
 *         printable UTF-8 (odd bytes from names become '?').
 * data/len: for RIN_AGGREGATE the XML after every decompression layer; for
 *         RIN_FAILURE the whole message; always followed by a NUL not
 *         counted in len. For RIN_ERROR data may be NULL.
 * raw/rawlen: the outermost container as found (the file, the decoded mail
 *         attachment, or the one mbox/Maildir message) so the store can keep
 *         the original; may be NULL for RIN_ERROR when nothing was read.
 * error: for RIN_ERROR a one-line reason; NULL otherwise.
 */
struct rin_item {
	const char *source;
	enum rin_kind kind;
	const void *data;
	size_t len;
	const void *raw;
	size_t rawlen;
	const char *error;
};

struct rin_opts {
	/* bytes one item may decompress to; 0 means the default, values above
	 * the ceiling are lowered to it */
	size_t max_decompressed;
};

/*
 * The callback returns 0 to go on; any other value stops the walk and is
 * returned by rin_walk/rin_buffer. It must not keep the item's pointers.
 */
typedef int (*rin_cb)(void *ctx, const struct rin_item *it);

/*
 * Walks n paths (files or directories). Directories are walked recursively
 * in name order, skipping names that start with '.' and never following a
 * symbolic link below a given path (a given path itself may be a link). A
 * directory holding cur/ new/ tmp/ is a Maildir: each file in cur/ and new/
 * is one mail. A file is classified by its content, not its name: gzip,
 * zip, zlib stream, XML, mbox ("From " first line), or an RFC 5322 mail.
 * Each report found is one callback; each problem (unreadable file, bomb,
 * corrupt archive, mail without a report, unknown content) is one RIN_ERROR
 * callback and the walk goes on. o may be NULL for defaults. Blocks on file
 * I/O. Returns 0 when everything was walked, or the first nonzero value the
 * callback returned.
 */
int rin_walk(char *const *paths, size_t n, const struct rin_opts *o, rin_cb cb, void *ctx);

/*
 * Same treatment for one mail held in memory (e.g. fetched over IMAP);
 * source names it in items. Returns like rin_walk.
 */
int rin_buffer(const char *source, const void *data, size_t len, const struct rin_opts *o,
	       rin_cb cb, void *ctx);

/*
 * Same treatment for one in-memory object of any supported kind (a file's
 * content: XML, gzip, zip, zlib, mbox or mail), classified by content.
 * Returns like rin_walk.
 */
int rin_bytes(const char *source, const void *data, size_t len, const struct rin_opts *o,
	      rin_cb cb, void *ctx);

/* GMime's one-time initialisation, shared with arf_parse (thread-safe) */
void rin_gmime_init(void);

/* GMime's object type, declared here so callers need not include gmime.h
   (C11 allows the repeated typedef) */
typedef struct _GMimeObject GMimeObject;
/* the decoded bytes of a leaf part, or a message/rfc822 part serialised;
   NUL-terminated heap copy (caller frees), *len_r without the NUL; NULL if
   the part has no content */
unsigned char *rin_part_bytes(GMimeObject *obj, size_t *len_r);

#endif
