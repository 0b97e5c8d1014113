/* json.h - the one JSON writer (RFC 8259) used for every record.
 *
 * Builds one object at a time into a growable buffer; keys are given with each value
 * (NULL inside arrays). Strings are escaped per RFC 8259 §7; invalid UTF-8 bytes are
 * written as U+FFFD so a record is always valid JSON. Timestamps are RFC 3339 UTC with
 * microseconds ("2026-11-22T01:56:13.123456Z"). Allocation failure aborts. */
#ifndef IW_JSON_H
#define IW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IW_JSON_MAX_DEPTH 32

struct iw_json {
	char *buf;
	size_t len, cap;
	unsigned depth;
	bool first[IW_JSON_MAX_DEPTH]; /* no member written yet at this depth */
};

void iw_json_init(struct iw_json *j);
void iw_json_free(struct iw_json *j);
/* Empties the buffer for the next record; keeps its memory. */
void iw_json_reset(struct iw_json *j);

void iw_json_obj_begin(struct iw_json *j, const char *key);
void iw_json_obj_end(struct iw_json *j);
void iw_json_arr_begin(struct iw_json *j, const char *key);
void iw_json_arr_end(struct iw_json *j);
void iw_json_str(struct iw_json *j, const char *key, const char *s); /* s NULL: null */
void iw_json_strn(struct iw_json *j, const char *key, const char *s, size_t n);
void iw_json_int(struct iw_json *j, const char *key, int64_t v);
void iw_json_uint(struct iw_json *j, const char *key, uint64_t v);
void iw_json_double(struct iw_json *j, const char *key, double v); /* non-finite: null */
void iw_json_bool(struct iw_json *j, const char *key, bool v);
void iw_json_null(struct iw_json *j, const char *key);
void iw_json_time(struct iw_json *j, const char *key, uint64_t ts_us);
/* Writes ts_us as RFC 3339 UTC with microseconds into buf (at least 28 bytes). */
void iw_json_fmt_time(uint64_t ts_us, char *buf, size_t len);

#endif
