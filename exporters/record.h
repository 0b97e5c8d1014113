/* record.h - events and alerts as JSON records, with Suricata EVE field names (DESIGN §5).
 *
 * Each function empties j (iw_json_reset) and writes exactly one record into it: one
 * object, no newline, valid UTF-8 whatever the strings in the event hold. The result is
 * j->buf / j->len, owned by j and valid until the next write to j. Nothing here keeps a
 * pointer into the event or alert after it returns. */
#ifndef IW_RECORD_H
#define IW_RECORD_H

#include "../parsers/event.h"
#include "../rules/alert.h"
#include "json.h"

/* An event record: the common fields, then "<kind>": {...} from the serialiser for
 * ev->kind ({} for a kind that has none yet). sensor (sensor.name) is omitted when NULL;
 * ev NULL leaves j empty. */
void iw_record_event(struct iw_json *j, const char *sensor, const struct iw_event *ev);

/* An alert record: the common fields (flow and addresses from a->ev when it is not NULL,
 * device from a->device, or from a->ev when a->device.id is NULL), then "alert" and
 * "evidence". a NULL leaves j empty. */
void iw_record_alert(struct iw_json *j, const char *sensor, const struct iw_alert *a);

/* The per-protocol serialisers: each writes the members of the "<kind>" object of an
 * event of its kind into the open object (one file each, exporters/rec_<kind>.c). */
void iw_rec_mqtt(struct iw_json *j, const struct iw_event *ev);
void iw_rec_coap(struct iw_json *j, const struct iw_event *ev);
void iw_rec_modbus(struct iw_json *j, const struct iw_event *ev);
void iw_rec_tls(struct iw_json *j, const struct iw_event *ev);
void iw_rec_ssh(struct iw_json *j, const struct iw_event *ev);
void iw_rec_dns(struct iw_json *j, const struct iw_event *ev);
void iw_rec_tunnel(struct iw_json *j, const struct iw_event *ev);

#endif
