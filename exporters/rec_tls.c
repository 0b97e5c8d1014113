/* rec_tls.c - the "tls" object of a tls event record (DESIGN §5; docs/records.md).
 *
 * Suricata EVE's names where it has one (sni, version, ja3 {hash, string}, ja3s, ja4,
 * client_alpns, subject, issuerdn, serial, notbefore, notafter); the rest is ours. */
#include "record.h"

static void version(struct iw_json *j, const char *key, uint16_t v)
{
	const char *n = iw_tls_version_name(v);
	if (n)
		iw_json_str(j, key, n);
	else
		iw_json_uint(j, key, v);
}

static void list(struct iw_json *j, const char *key, const struct iw_tls_list *l)
{
	if (!l->n)
		return;
	iw_json_arr_begin(j, key);
	for (unsigned i = 0; i < l->n; i++)
		iw_json_uint(j, NULL, l->v[i]);
	iw_json_arr_end(j);
}

/* Certificate times are seconds and may lie before 1970. */
static void cert_time(struct iw_json *j, const char *key, int64_t s)
{
	iw_json_time(j, key, s > 0 ? (uint64_t)s * 1000000 : 0);
}

static void str_opt(struct iw_json *j, const char *key, const char *s)
{
	if (s)
		iw_json_str(j, key, s);
}

static void cert(struct iw_json *j, const struct iw_x509 *x, bool ok)
{
	iw_json_obj_begin(j, NULL);
	if (!ok) {
		iw_json_str(j, "fingerprint_sha256", x->sha256);
		iw_json_str(j, "error", "undecodable");
		iw_json_obj_end(j);
		return;
	}
	str_opt(j, "subject", x->subject);
	str_opt(j, "subject_cn", x->subject_cn);
	str_opt(j, "subject_o", x->subject_o);
	str_opt(j, "issuerdn", x->issuer);
	str_opt(j, "issuer_cn", x->issuer_cn);
	str_opt(j, "issuer_o", x->issuer_o);
	str_opt(j, "serial", x->serial);
	cert_time(j, "notbefore", x->not_before);
	cert_time(j, "notafter", x->not_after);
	iw_json_str(j, "fingerprint_sha256", x->sha256);
	if (x->n_sans) {
		iw_json_arr_begin(j, "sans");
		for (unsigned i = 0; i < x->n_sans && i < IW_X509_MAX_SAN; i++)
			iw_json_str(j, NULL, x->sans[i]);
		iw_json_arr_end(j);
	}
	if (x->sans_dropped)
		iw_json_uint(j, "sans_dropped", x->sans_dropped);
	str_opt(j, "key_type", x->key_type);
	if (x->key_bits)
		iw_json_uint(j, "key_bits", x->key_bits);
	str_opt(j, "sig_alg", x->sig_alg);
	iw_json_uint(j, "version", x->version);
	if (x->is_ca)
		iw_json_bool(j, "is_ca", true);
	if (x->self_signed)
		iw_json_bool(j, "self_signed", true);
	if (x->truncated)
		iw_json_bool(j, "truncated", true);
	iw_json_obj_end(j);
}

static void alert(struct iw_json *j, const struct iw_ev_tls *t)
{
	iw_json_bool(j, "encrypted", t->encrypted);
	if (t->encrypted)
		return;
	if (t->level == 1 || t->level == 2)
		iw_json_str(j, "level", t->level == 1 ? "warning" : "fatal");
	else
		iw_json_uint(j, "level", t->level);
	const char *d = iw_tls_alert_name(t->description);
	if (d)
		iw_json_str(j, "description", d);
	iw_json_uint(j, "description_code", t->description);
}

void iw_rec_tls(struct iw_json *j, const struct iw_event *ev)
{
	const struct iw_ev_tls *t = &ev->u.tls;
	iw_json_str(j, "type", iw_tls_type_name(t->type));
	iw_json_str(j, "side", t->dir == 0 ? "client" : "server");
	if (t->version)
		version(j, "version", t->version);
	str_opt(j, "sni", t->sni);
	switch (t->type) {
	case IW_TLS_CLIENT_HELLO:
		version(j, "legacy_version", t->legacy_version);
		iw_json_obj_begin(j, "ja3");
		str_opt(j, "hash", t->ja3_hash);
		str_opt(j, "string", t->ja3);
		iw_json_obj_end(j);
		str_opt(j, "ja4", t->ja4);
		if (t->n_alpns) {
			iw_json_arr_begin(j, "client_alpns");
			for (unsigned i = 0; i < t->n_alpns && i < IW_TLS_MAX_ALPN; i++)
				iw_json_str(j, NULL, t->alpns[i]);
			iw_json_arr_end(j);
		}
		list(j, "ciphers", &t->ciphers);
		list(j, "extensions", &t->extensions);
		list(j, "supported_versions", &t->versions);
		list(j, "groups", &t->groups);
		list(j, "signature_algorithms", &t->sig_algs);
		if (t->n_point_formats) {
			iw_json_arr_begin(j, "point_formats");
			for (unsigned i = 0; i < t->n_point_formats; i++)
				iw_json_uint(j, NULL, t->point_formats[i]);
			iw_json_arr_end(j);
		}
		iw_json_uint(j, "session_id_length", t->session_id_len);
		break;
	case IW_TLS_SERVER_HELLO:
		version(j, "legacy_version", t->legacy_version);
		if (t->ciphers.n)
			iw_json_uint(j, "cipher", t->ciphers.v[0]);
		list(j, "extensions", &t->extensions);
		iw_json_obj_begin(j, "ja3s");
		str_opt(j, "hash", t->ja3s_hash);
		str_opt(j, "string", t->ja3s);
		iw_json_obj_end(j);
		str_opt(j, "alpn", t->alpn);
		if (t->resumed)
			iw_json_bool(j, "resumed", true);
		break;
	case IW_TLS_CERTIFICATE:
		iw_json_uint(j, "chain_length", (uint64_t)t->n_certs + t->certs_dropped);
		if (t->n_certs && t->cert_ok && t->cert_ok[0]) { /* the leaf, as EVE has it */
			const struct iw_x509 *x = &t->certs[0];
			str_opt(j, "subject", x->subject);
			str_opt(j, "issuerdn", x->issuer);
			str_opt(j, "serial", x->serial);
			cert_time(j, "notbefore", x->not_before);
			cert_time(j, "notafter", x->not_after);
			iw_json_str(j, "fingerprint_sha256", x->sha256);
		}
		iw_json_arr_begin(j, "certificates");
		for (unsigned i = 0; i < t->n_certs && t->certs; i++)
			cert(j, &t->certs[i], t->cert_ok && t->cert_ok[i]);
		iw_json_arr_end(j);
		if (t->certs_dropped)
			iw_json_uint(j, "certificates_dropped", t->certs_dropped);
		break;
	case IW_TLS_CERTIFICATE_REQUEST:
		iw_json_uint(j, "cert_types", t->n_cert_types);
		iw_json_uint(j, "ca_names", t->n_ca_names);
		break;
	case IW_TLS_ALERT:
		alert(j, t);
		break;
	case IW_TLS_HANDSHAKE_FAILED:
		str_opt(j, "failure", t->failure);
		iw_json_uint(j, "records_toserver", t->records[0]);
		iw_json_uint(j, "records_toclient", t->records[1]);
		iw_json_time(j, "start", t->start_us);
		iw_json_time(j, "end", t->end_us);
		iw_json_uint(j, "duration_ms",
		             t->end_us > t->start_us ? (t->end_us - t->start_us) / 1000 : 0);
		if (t->ja3_hash) {
			iw_json_obj_begin(j, "ja3");
			iw_json_str(j, "hash", t->ja3_hash);
			iw_json_obj_end(j);
		}
		str_opt(j, "ja4", t->ja4);
		str_opt(j, "alpn", t->alpn);
		if (t->alert_seen) {
			iw_json_obj_begin(j, "alert");
			alert(j, t);
			iw_json_obj_end(j);
		}
		break;
	default:
		break;
	}
}
