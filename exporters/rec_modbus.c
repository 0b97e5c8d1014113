/* rec_modbus.c - the "modbus" object of a modbus event record (DESIGN §5, docs/modbus.md). */
#include "json.h"
#include "record.h"

static const char *type_name(enum iw_modbus_type t)
{
	switch (t) {
	case IW_MODBUS_REQUEST:
		return "request";
	case IW_MODBUS_RESPONSE:
		return "response";
	case IW_MODBUS_EXCEPTION:
		return "exception";
	}
	return "unknown";
}

static void values(struct iw_json *j, const struct iw_ev_modbus *m)
{
	if (m->values_total == 0 || m->values == NULL)
		return;
	iw_json_arr_begin(j, "values");
	for (unsigned i = 0; i < m->n_values; i++)
		iw_json_uint(j, NULL, m->values[i]);
	iw_json_arr_end(j);
	if (m->n_values < m->values_total)
		iw_json_uint(j, "values_total", m->values_total);
}

static void coils(struct iw_json *j, const struct iw_ev_modbus *m)
{
	if (m->coils_total == 0 || m->coils == NULL)
		return;
	iw_json_arr_begin(j, "coils");
	for (unsigned i = 0; i < m->n_coils; i++)
		iw_json_bool(j, NULL, m->coils[i] != 0);
	iw_json_arr_end(j);
	if (m->n_coils < m->coils_total)
		iw_json_uint(j, "coils_total", m->coils_total);
}

static void writes(struct iw_json *j, const struct iw_ev_modbus *m)
{
	if (m->writes_total == 0 || m->writes == NULL)
		return;
	iw_json_arr_begin(j, "writes");
	for (unsigned i = 0; i < m->n_writes; i++) {
		const struct iw_modbus_write *w = &m->writes[i];
		iw_json_obj_begin(j, NULL);
		iw_json_uint(j, "address", w->address);
		if (w->has_old)
			iw_json_uint(j, "old", w->old_value);
		iw_json_uint(j, "new", w->new_value);
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	if (m->n_writes < m->writes_total)
		iw_json_uint(j, "writes_total", m->writes_total);
}

static void files(struct iw_json *j, const struct iw_ev_modbus *m)
{
	if (m->files_total == 0 || m->files == NULL)
		return;
	iw_json_arr_begin(j, "file_records");
	for (unsigned i = 0; i < m->n_files; i++) {
		const struct iw_modbus_file_ref *f = &m->files[i];
		iw_json_obj_begin(j, NULL);
		iw_json_uint(j, "reference_type", f->ref_type);
		iw_json_uint(j, "file", f->file);
		iw_json_uint(j, "record", f->record);
		iw_json_uint(j, "length", f->length);
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	if (m->n_files < m->files_total)
		iw_json_uint(j, "file_records_total", m->files_total);
}

static void devid(struct iw_json *j, const struct iw_ev_modbus *m)
{
	const struct iw_modbus_devid *d = &m->devid;
	iw_json_obj_begin(j, "device_identification");
	iw_json_uint(j, "read_code", d->read_code);
	if (m->type == IW_MODBUS_REQUEST) {
		iw_json_uint(j, "object_id", d->object_id);
		iw_json_obj_end(j);
		return;
	}
	iw_json_uint(j, "conformity_level", d->conformity_level);
	iw_json_bool(j, "more_follows", d->more_follows);
	iw_json_uint(j, "next_object_id", d->next_object_id);
	if (d->vendor_name != NULL)
		iw_json_strn(j, "vendor_name", d->vendor_name, d->vendor_name_len);
	if (d->product_code != NULL)
		iw_json_strn(j, "product_code", d->product_code, d->product_code_len);
	if (d->revision != NULL)
		iw_json_strn(j, "revision", d->revision, d->revision_len);
	iw_json_arr_begin(j, "objects");
	for (unsigned i = 0; i < d->n_objects && d->objects != NULL; i++) {
		const struct iw_modbus_object *o = &d->objects[i];
		iw_json_obj_begin(j, NULL);
		iw_json_uint(j, "id", o->id);
		if (o->name != NULL)
			iw_json_str(j, "name", o->name);
		iw_json_strn(j, "value", o->value, o->len);
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);
	if (d->n_objects < d->n_objects_total)
		iw_json_uint(j, "objects_total", d->n_objects_total);
	iw_json_obj_end(j);
}

void iw_rec_modbus(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_modbus *m = &ev->u.modbus;
	iw_json_str(j, "type", type_name(m->type));
	iw_json_uint(j, "transaction_id", m->transaction_id);
	iw_json_uint(j, "unit_id", m->unit_id);
	iw_json_uint(j, "function", m->function);
	if (m->function_name != NULL)
		iw_json_str(j, "function_name", m->function_name);
	if (m->malformed != NULL)
		iw_json_str(j, "malformed", m->malformed);
	if (m->type == IW_MODBUS_EXCEPTION) {
		iw_json_uint(j, "exception_code", m->exception_code);
		if (m->exception != NULL)
			iw_json_str(j, "exception", m->exception);
	}
	if (m->has_sub_function) {
		const char *key = m->function == 43   ? "mei_type"
		                  : m->function == 90 ? "umas_function"
		                                      : "sub_function";
		iw_json_uint(j, key, m->sub_function);
		if (m->sub_function_name != NULL)
			iw_json_str(j, m->function == 43 ? "mei_type_name" : "sub_function_name",
			            m->sub_function_name);
	}
	if (m->has_umas_session)
		iw_json_uint(j, "umas_session", m->umas_session);
	if (m->has_address)
		iw_json_uint(j, "address", m->address);
	if (m->has_quantity)
		iw_json_uint(j, "quantity", m->quantity);
	if (m->has_write_range) {
		iw_json_uint(j, "write_address", m->write_address);
		iw_json_uint(j, "write_quantity", m->write_quantity);
	}
	if (m->has_masks) {
		iw_json_uint(j, "and_mask", m->and_mask);
		iw_json_uint(j, "or_mask", m->or_mask);
	}
	if (m->has_byte_count)
		iw_json_uint(j, "byte_count", m->byte_count);
	if (m->has_status)
		iw_json_uint(j, "status", m->status);
	if (m->has_event_count)
		iw_json_uint(j, "event_count", m->event_count);
	if (m->has_event_count && m->function == 12)
		iw_json_uint(j, "message_count", m->message_count);
	if (m->server_id != NULL)
		iw_json_strn(j, "server_id", m->server_id, m->server_id_len);
	if (m->has_run_indicator)
		iw_json_bool(j, "run_indicator", m->run_indicator);
	values(j, m);
	coils(j, m);
	writes(j, m);
	files(j, m);
	if (m->has_devid)
		devid(j, m);
	if (m->has_request) {
		iw_json_obj_begin(j, "request");
		iw_json_uint(j, "function", m->req_function);
		if (m->req_has_address)
			iw_json_uint(j, "address", m->req_address);
		if (m->req_has_quantity)
			iw_json_uint(j, "quantity", m->req_quantity);
		iw_json_obj_end(j);
		iw_json_uint(j, "rtt_us", m->rtt_us);
	}
}
