/* rec_dns.c - the "dns" object of a dns event record (DESIGN §5, docs/dns.md), with the
 * field names of Suricata's EVE dns log, version 2 ("grouped" answers included).
 *
 * Booleans are written only when true, as EVE does; rrtype is the mnemonic, or the number
 * for a type without one. */
#include "json.h"
#include "record.h"

static const char hexd[] = "0123456789abcdef";

static void rrtype(struct iw_json *j, const char *key, uint16_t t)
{
	const char *n = iw_dns_rrtype_name(t);
	if (n != NULL)
		iw_json_str(j, key, n);
	else
		iw_json_uint(j, key, t);
}

static void flag(struct iw_json *j, const char *key, bool on)
{
	if (on)
		iw_json_bool(j, key, true);
}

static void answers(struct iw_json *j, const struct iw_ev_dns *d)
{
	unsigned n = d->answers != NULL ? d->n_answers : 0;
	if (n > IW_DNS_MAX_ANSWERS)
		n = IW_DNS_MAX_ANSWERS;
	if (n == 0)
		return;
	iw_json_arr_begin(j, "answers");
	for (unsigned i = 0; i < n; i++) {
		const struct iw_dns_rr *a = &d->answers[i];
		iw_json_obj_begin(j, NULL);
		iw_json_str(j, "rrname", a->rrname);
		rrtype(j, "rrtype", a->rrtype);
		iw_json_uint(j, "ttl", a->ttl);
		if (a->rdata != NULL)
			iw_json_str(j, "rdata", a->rdata);
		iw_json_obj_end(j);
	}
	iw_json_arr_end(j);

	/* "grouped": the rdata of each type in a list, types in the order they first come */
	bool open = false;
	for (unsigned i = 0; i < n; i++) {
		const struct iw_dns_rr *a = &d->answers[i];
		const char *tn = iw_dns_rrtype_name(a->rrtype);
		if (a->rdata == NULL || tn == NULL)
			continue;
		bool seen = false;
		for (unsigned k = 0; k < i && !seen; k++)
			seen = d->answers[k].rrtype == a->rrtype && d->answers[k].rdata != NULL;
		if (seen)
			continue;
		if (!open) {
			iw_json_obj_begin(j, "grouped");
			open = true;
		}
		iw_json_arr_begin(j, tn);
		for (unsigned k = i; k < n; k++)
			if (d->answers[k].rrtype == a->rrtype && d->answers[k].rdata != NULL)
				iw_json_str(j, NULL, d->answers[k].rdata);
		iw_json_arr_end(j);
	}
	if (open)
		iw_json_obj_end(j);
}

void iw_rec_dns(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_dns *d = &ev->u.dns;
	bool answer = d->type == IW_DNS_ANSWER;
	iw_json_str(j, "type", answer ? "answer" : "query");
	iw_json_uint(j, "id", d->id);
	char fl[4] = {hexd[d->flags >> 12], hexd[(d->flags >> 8) & 15], hexd[(d->flags >> 4) & 15],
	              hexd[d->flags & 15]};
	iw_json_strn(j, "flags", fl, sizeof(fl));
	flag(j, "qr", d->flags & 0x8000);
	flag(j, "aa", d->flags & 0x0400);
	flag(j, "tc", d->flags & 0x0200);
	flag(j, "rd", d->flags & 0x0100);
	flag(j, "ra", d->flags & 0x0080);
	if (d->opcode)
		iw_json_uint(j, "opcode", d->opcode);
	if (d->rrname != NULL) {
		iw_json_str(j, "rrname", d->rrname);
		rrtype(j, "rrtype", d->rrtype);
	}
	if (answer) {
		const char *rc = iw_dns_rcode_name(d->rcode);
		if (rc != NULL)
			iw_json_str(j, "rcode", rc);
		else
			iw_json_uint(j, "rcode", d->rcode);
	}
	flag(j, "tcp", d->tcp);
	answers(j, d);
	if (d->answers_dropped)
		iw_json_uint(j, "answers_dropped", d->answers_dropped);
	if (d->n_authorities)
		iw_json_uint(j, "authorities", d->n_authorities);
	if (d->n_additionals)
		iw_json_uint(j, "additionals", d->n_additionals);
}
