/* ev_modbus.h - the modbus event (DESIGN §5): what parsers/modbus.c reports per Modbus/TCP ADU.
 *
 * One event per ADU. Pointers (values, coils, writes, objects, strings) point into the
 * bytes the parser was given or into its per-flow state, and are valid only while the
 * event is being emitted; a consumer that keeps one copies it. Every array is bounded
 * by limits.max_items (and by the hard caps below); *_total says how many the ADU held. */
#ifndef IW_EV_MODBUS_H
#define IW_EV_MODBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IW_MODBUS_MAX_REGS    128  /* 125 is the most a PDU can carry; 127 fit a 254-byte ADU */
#define IW_MODBUS_MAX_COILS   2048 /* 2040 fit a 254-byte ADU */
#define IW_MODBUS_MAX_WRITES  128
#define IW_MODBUS_MAX_OBJECTS 32
#define IW_MODBUS_MAX_FILES   16

enum iw_modbus_type { IW_MODBUS_REQUEST, IW_MODBUS_RESPONSE, IW_MODBUS_EXCEPTION };

/* One register or coil written, with the value it held before when known. */
struct iw_modbus_write {
	uint16_t address;
	uint16_t new_value;
	uint16_t old_value; /* meaningful when has_old */
	bool has_old;
};

/* A Read Device Identification object (FC 43 / MEI 14). */
struct iw_modbus_object {
	uint8_t id;
	const char *name; /* "VendorName" ... for ids 0..6, NULL otherwise */
	const char *value;
	uint8_t len;
};

/* A file record sub-request (FC 20, 21). */
struct iw_modbus_file_ref {
	uint8_t ref_type; /* 6 */
	uint16_t file, record, length;
};

/* FC 43 / MEI 14. Requests fill read_code and object_id; responses the rest. */
struct iw_modbus_devid {
	uint8_t read_code; /* 1 basic, 2 regular, 3 extended, 4 one object */
	uint8_t object_id; /* request: the first object asked for */
	uint8_t conformity_level;
	bool more_follows;
	uint8_t next_object_id;
	uint8_t n_objects_total; /* as the response announces it */
	const struct iw_modbus_object *objects;
	uint16_t n_objects;
	/* objects 0, 1 and 2 when present (NULL otherwise) */
	const char *vendor_name, *product_code, *revision;
	uint8_t vendor_name_len, product_code_len, revision_len;
};

struct iw_ev_modbus {
	enum iw_modbus_type type;
	/* MBAP */
	uint16_t transaction_id;
	uint16_t length; /* bytes after the length field: unit id + PDU */
	uint8_t unit_id;
	/* PDU */
	uint8_t function;          /* without the exception bit */
	const char *function_name; /* "read_coils" ...; "user_defined", "umas"; NULL unknown */
	const char *malformed;     /* why the ADU does not parse ("truncated" ...), else NULL */
	uint8_t exception_code;    /* exceptions */
	const char *exception;     /* its name, NULL when unknown */

	bool has_address, has_quantity;
	uint16_t address, quantity;
	bool has_write_range; /* FC 23's write part */
	uint16_t write_address, write_quantity;
	bool has_byte_count;
	uint16_t byte_count;
	bool has_masks; /* FC 22 */
	uint16_t and_mask, or_mask;
	bool has_sub_function; /* FC 8 diagnostics, FC 43 MEI type, FC 90 UMAS function */
	uint16_t sub_function;
	const char *sub_function_name; /* NULL when unknown */
	bool has_umas_session;
	uint8_t umas_session;
	bool has_status; /* FC 7 output data, FC 11/12 status word */
	uint16_t status;
	bool has_event_count; /* FC 11, 12 */
	uint16_t event_count, message_count;
	bool has_run_indicator; /* FC 17 */
	bool run_indicator;
	const char *server_id; /* FC 17, NULL when absent */
	uint8_t server_id_len;

	/* register values (reads, FC 6 echo, FC 8 data words, FC 24 FIFO) */
	const uint16_t *values;
	uint16_t n_values, values_total;
	/* coil or discrete input states, one byte 0/1 per coil */
	const uint8_t *coils;
	uint16_t n_coils, coils_total;
	/* writes of a request (FC 5, 6, 15, 16, 22, 23); coil writes are 0/1 */
	const struct iw_modbus_write *writes;
	uint16_t n_writes, writes_total;
	/* FC 20, 21 */
	const struct iw_modbus_file_ref *files;
	uint16_t n_files, files_total;
	/* FC 43 / MEI 14 */
	bool has_devid;
	struct iw_modbus_devid devid;

	/* responses and exceptions: the request they answer, when it was seen */
	bool has_request;
	uint8_t req_function;
	bool req_has_address, req_has_quantity;
	uint16_t req_address, req_quantity;
	uint64_t rtt_us;
};

#endif
