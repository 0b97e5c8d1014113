/* syslog.c - the syslog exporter: alerts as RFC 5424 messages over UDP (RFC 5426: one
 * message per datagram) or TCP (RFC 6587 §3.4.1: octet counting), the body a CEF line or
 * the JSON record (DESIGN §8, docs/siem.md). Messages are built by syslog_msg.c.
 *
 *   TCP stream:  <len> SP <message> <len> SP <message> ...     len = octets of message
 *                "1017 <131>1 2026-11-22T07:45:50.091167Z host iotwatch 4242 mqtt... CEF:0|..."
 *
 * The packet path never waits here. UDP: one non-blocking send() per alert. TCP: frames
 * go into a buffer of our own (SEND_BUF) and out through a non-blocking socket as far as
 * the socket takes them; a frame that does not fit is dropped and counted. A lost
 * connection is re-established from write() and tick() with a backoff of 1 s doubling to
 * 30 s; the frame that was part-way out is sent again whole on the new connection, so the
 * receiver never sees half a frame continued on another connection. Frames the kernel had
 * taken before a loss may be lost with the connection: TCP gives no receipt (a receiver
 * that must have every alert reads the JSON lines or Kafka). */
#include "exporter.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../parsers/alloc.h"
#include "../parsers/cursor.h"
#include "json.h"
#include "syslog.h"
#include "../parsers/clock.h"

#define SEND_BUF      (4u << 20)   /* TCP: bytes of frames waiting for the socket */
#define SOCK_SNDBUF   (128 * 1024) /* the kernel's share (it doubles it): see try_connect */
#define UDP_MAX       65507        /* the largest UDP payload over IPv4 */
#define MAX_ADDRS     8            /* addresses of the name tried in turn */
#define BACKOFF_MIN   1.0
#define BACKOFF_MAX   30.0
#define STABLE_S      30.0 /* a connection up this long makes the next loss start at BACKOFF_MIN */
#define CONNECT_S     10.0 /* a connect that has not completed by then has failed */
#define FINISH_WAIT_S 5.0  /* finish(): how long the frames still waiting may take */

enum link { DOWN, CONNECTING, UP };

struct syslog_st {
	char *address; /* as configured, for messages */
	bool tcp;
	struct iw_syslog_fmt fmt;
	char hostname[256];
	struct sockaddr_storage addr[MAX_ADDRS];
	socklen_t addrlen[MAX_ADDRS];
	unsigned n_addr, cur; /* cur: the address the next connect uses */
	int fd;
	enum link link;
	bool ever_up;    /* a connection was made once: the next is a reconnection */
	bool complained; /* a line about the outage was printed; one more when it ends */
	bool finishing;  /* finish(): retry at once, and every second */
	bool udp_refused_said;
	double next_try, delay, up_since, connect_by;
	/* TCP frames, back to back: buf[off..len) not yet sent, of which the first `part`
	 * bytes (of the first frame) went out on the current connection */
	char *buf;
	size_t off, len, part;
	uint64_t queued; /* frames in buf */
	struct iw_sbuf msg;
	uint64_t sent, reconnects, refused;
	uint64_t d_full, d_oversize, d_send, d_invalid, d_unsent;
};

static uint64_t dropped(const struct syslog_st *st)
{
	return st->d_full + st->d_oversize + st->d_send + st->d_invalid + st->d_unsent;
}

/* ---- configuration ---- */

static const char *syslog_configured(const struct iw_exporters_cfg *cfg)
{
	if (cfg == NULL || cfg->syslog.address == NULL || cfg->syslog.address[0] == '\0')
		return NULL;
	return cfg->syslog.address;
}

static unsigned syslog_kinds(const struct iw_exporters_cfg *cfg)
{
	(void)cfg;
	return IW_REC_ALERT;
}

static bool set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int syslog_check(const struct iw_exporters_cfg *cfg, char *err, size_t errlen)
{
	struct iw_syslog_addr a;
	if (iw_syslog_parse_address(cfg->syslog.address, &a, err, errlen) != IW_OK)
		return IW_ERR;
	const char *fmt = cfg->syslog.format, *fac = cfg->syslog.facility, *host = cfg->syslog.hostname;
	if (set(fmt) && strcmp(fmt, "cef") != 0 && strcmp(fmt, "json") != 0) {
		snprintf(err, errlen, "format \"%s\" is not cef or json", fmt);
		return IW_ERR;
	}
	if (set(fac) && iw_syslog_facility(fac) < 0) {
		snprintf(err, errlen, "facility \"%s\" is not a syslog facility (kern ... local7)", fac);
		return IW_ERR;
	}
	if (set(host) && !iw_syslog_hostname_ok(host)) {
		snprintf(err, errlen, "hostname \"%s\" is not 1..255 printable US-ASCII characters", host);
		return IW_ERR;
	}
	return IW_OK;
}

/* ---- TCP connection ---- */

static void say(const struct syslog_st *st, const char *what, int err)
{
	if (err)
		fprintf(stderr, "iotwatch: syslog %s: %s (%s)%s\n", st->address, what, strerror(err),
		        st->ever_up ? "; reconnecting" : "; retrying");
	else
		fprintf(stderr, "iotwatch: syslog %s: %s\n", st->address, what);
}

static void drop_fd(struct syslog_st *st)
{
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
	st->link = DOWN;
	st->part = 0; /* the frame cut short goes again whole */
}

/* Waits st->delay before the next attempt, then doubles it (finishing: a second). */
static void schedule(struct syslog_st *st, double now)
{
	double wait = st->finishing && st->delay > BACKOFF_MIN ? BACKOFF_MIN : st->delay;
	st->next_try = now + wait;
	st->delay = st->delay * 2 > BACKOFF_MAX ? BACKOFF_MAX : st->delay * 2;
}

static void connect_failed(struct syslog_st *st, int err, double now)
{
	drop_fd(st);
	if (!st->complained) {
		say(st, "cannot connect", err);
		st->complained = true;
	}
	if (st->n_addr > 0)
		st->cur = (st->cur + 1) % st->n_addr;
	schedule(st, now);
}

static void connected(struct syslog_st *st, double now)
{
	st->link = UP;
	st->up_since = now;
	if (st->ever_up)
		st->reconnects++;
	if (st->complained)
		say(st, st->ever_up ? "reconnected" : "connected", 0);
	st->complained = false;
	st->ever_up = true;
}

static void lost(struct syslog_st *st, int err, double now)
{
	bool stable = now - st->up_since >= STABLE_S;
	drop_fd(st);
	if (!st->complained) {
		if (err)
			say(st, "connection lost", err);
		else
			fprintf(
			    stderr,
			    "iotwatch: syslog %s: connection lost (closed by the receiver); reconnecting\n",
			    st->address);
		st->complained = true;
	}
	if (stable)
		st->delay = BACKOFF_MIN;
	schedule(st, now);
}

static void try_connect(struct syslog_st *st, double now)
{
	const struct sockaddr *sa = (const struct sockaddr *)&st->addr[st->cur];
	st->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (st->fd < 0) {
		connect_failed(st, errno, now);
		return;
	}
	/* Frames the kernel holds are lost unseen when the connection goes; frames in our
	 * buffer are sent again. So the kernel gets a fixed share (no autotuning up to MBs),
	 * still more than alerts need even on a long path. */
	int sndbuf = SOCK_SNDBUF;
	setsockopt(st->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (connect(st->fd, sa, st->addrlen[st->cur]) == 0) {
		connected(st, now);
	} else if (errno == EINPROGRESS || errno == EINTR) {
		st->link = CONNECTING;
		st->connect_by = now + CONNECT_S;
	} else {
		connect_failed(st, errno, now);
	}
}

/* A connect in progress: done, failed, or still going. */
static void check_connect(struct syslog_st *st, double now)
{
	struct pollfd p = {.fd = st->fd, .events = POLLOUT};
	if (poll(&p, 1, 0) <= 0) {
		if (now >= st->connect_by)
			connect_failed(st, ETIMEDOUT, now);
		return;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		soerr = errno;
	if (soerr == 0)
		connected(st, now);
	else
		connect_failed(st, soerr, now);
}

/* A receiver sends nothing on a syslog connection: readable means it closed or reset. */
static void check_peer(struct syslog_st *st, double now)
{
	char tmp[512];
	for (int i = 0; i < 8; i++) {
		ssize_t r = recv(st->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (r > 0)
			continue; /* nothing we need: discarded */
		if (r == 0)
			lost(st, 0, now);
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			lost(st, errno, now);
		return;
	}
}

/* Length of the first frame in the buffer ("<len> <msg>", written by enqueue). */
static size_t first_frame(const struct syslog_st *st)
{
	size_t i = st->off, n = 0;
	while (st->buf[i] != ' ')
		n = n * 10 + (size_t)(st->buf[i++] - '0');
	return i + 1 - st->off + n;
}

/* Moves the connection along and sends what the socket takes; never waits. */
static void pump(struct syslog_st *st)
{
	double now = iw_mono_s();
	if (st->link == CONNECTING)
		check_connect(st, now);
	if (st->link == DOWN && now >= st->next_try)
		try_connect(st, now);
	if (st->link == CONNECTING)
		check_connect(st, now);
	if (st->link != UP)
		return;
	check_peer(st, now);
	while (st->link == UP && st->len > st->off) {
		ssize_t w = send(st->fd, st->buf + st->off + st->part, st->len - st->off - st->part,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				lost(st, errno, now);
			break;
		}
		st->part += (size_t)w;
		while (st->len > st->off) {
			size_t fl = first_frame(st);
			if (st->part < fl)
				break;
			st->off += fl;
			st->part -= fl;
			st->queued--;
			st->sent++;
		}
	}
	if (st->off == st->len)
		st->off = st->len = st->part = 0;
}

/* Appends "<len> <msg>" for st->msg. false when it does not fit (counted by the caller). */
static bool enqueue(struct syslog_st *st)
{
	char head[24];
	int hn = snprintf(head, sizeof(head), "%zu ", st->msg.len);
	size_t need = (size_t)hn + st->msg.len;
	if (SEND_BUF - st->len < need && st->off > 0) {
		memmove(st->buf, st->buf + st->off, st->len - st->off);
		st->len -= st->off;
		st->off = 0;
	}
	if (SEND_BUF - st->len < need)
		return false;
	memcpy(st->buf + st->len, head, (size_t)hn);
	memcpy(st->buf + st->len + (size_t)hn, st->msg.buf, st->msg.len);
	st->len += need;
	st->queued++;
	return true;
}

/* ---- open / write ---- */

static void *fail_open(struct syslog_st *st, struct addrinfo *res)
{
	if (res != NULL)
		freeaddrinfo(res);
	if (st->fd >= 0)
		close(st->fd);
	free(st->address);
	free(st->buf);
	free(st);
	return NULL;
}

static void *syslog_open(const struct iw_exp_open *o, char *err, size_t errlen)
{
	const struct iw_exporters_cfg *cfg = o->cfg;
	const char *dest = o->dest != NULL ? o->dest : syslog_configured(cfg);
	struct iw_syslog_addr a;
	if (iw_syslog_parse_address(dest, &a, err, errlen) != IW_OK)
		return NULL;

	struct syslog_st *st = iw_calloc(1, sizeof(*st));
	st->fd = -1;
	st->tcp = a.tcp;
	st->address = strdup(dest);
	if (st->address == NULL)
		iw_oom();
	int fac = cfg != NULL ? iw_syslog_facility(cfg->syslog.facility) : -1;
	st->fmt.facility = fac >= 0 ? (unsigned)fac : 16; /* local0 */
	st->fmt.json = cfg != NULL && cfg->syslog.format != NULL && strcmp(cfg->syslog.format, "json") == 0;
	st->fmt.procid = (unsigned long)getpid();
	const char *host = cfg != NULL ? cfg->syslog.hostname : NULL;
	char sys[256] = "";
	if (!set(host)) {
		if (gethostname(sys, sizeof(sys) - 1) != 0)
			sys[0] = '\0';
		sys[sizeof(sys) - 1] = '\0';
		host = sys;
	}
	st->fmt.hostname = iw_syslog_hostname(host, st->hostname, sizeof(st->hostname));
	st->delay = BACKOFF_MIN;

	struct addrinfo hints = {.ai_socktype = a.tcp ? SOCK_STREAM : SOCK_DGRAM}, *res = NULL;
	int rc = getaddrinfo(a.host, a.port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot resolve %s: %s", dest, a.host,
		         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return fail_open(st, NULL);
	}
	for (struct addrinfo *ai = res; ai != NULL && st->n_addr < MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(st->addr[0]))
			continue;
		memcpy(&st->addr[st->n_addr], ai->ai_addr, ai->ai_addrlen);
		st->addrlen[st->n_addr++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (st->n_addr == 0) {
		snprintf(err, errlen, "%s: %s has no usable address", dest, a.host);
		return fail_open(st, NULL);
	}

	if (!st->tcp) {
		/* connected, so the kernel fills in the destination and reports refusals */
		int last = 0;
		for (unsigned i = 0; i < st->n_addr && st->fd < 0; i++) {
			const struct sockaddr *sa = (const struct sockaddr *)&st->addr[i];
			int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, sa, st->addrlen[i]) == 0) {
				st->fd = fd;
				break;
			}
			last = errno;
			if (fd >= 0)
				close(fd);
		}
		if (st->fd < 0) {
			snprintf(err, errlen, "%s: cannot open a UDP socket to %s: %s", dest, a.host,
			         strerror(last));
			return fail_open(st, NULL);
		}
		st->link = UP;
		st->ever_up = true;
		return st;
	}

	st->buf = iw_malloc(SEND_BUF);
	try_connect(st, iw_mono_s());
	return st;
}

static int write_udp(struct syslog_st *st)
{
	if (st->msg.len > UDP_MAX) {
		st->d_oversize++;
		return IW_ERR;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		if (send(st->fd, st->msg.buf, st->msg.len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			st->sent++;
			if (st->complained) {
				say(st, "sending again", 0);
				st->complained = false;
			}
			return IW_OK;
		}
		if (errno == EINTR)
			continue;
		if (errno == ECONNREFUSED) {
			/* an ICMP port unreachable for an earlier datagram: this one was not sent */
			st->refused++;
			if (!st->udp_refused_said) {
				fprintf(stderr,
				        "iotwatch: syslog %s: the receiver's port is unreachable; datagrams "
				        "may be lost\n",
				        st->address);
				st->udp_refused_said = true;
			}
			continue;
		}
		break;
	}
	if (!st->complained) {
		fprintf(stderr, "iotwatch: syslog %s: send failed (%s); records are dropped until it works\n",
		        st->address, strerror(errno));
		st->complained = true;
	}
	st->d_send++;
	return IW_ERR;
}

static int syslog_write(void *vst, enum iw_rec_kind kind, const char *key, const char *rec, size_t len)
{
	struct syslog_st *st = vst;
	(void)key;
	if (kind != IW_REC_ALERT)
		return IW_OK;
	iw_sbuf_reset(&st->msg);
	if (iw_syslog_format(&st->msg, &st->fmt, rec, len) != IW_OK) {
		st->d_invalid++;
		return IW_ERR;
	}
	if (!st->tcp)
		return write_udp(st);
	char head[24];
	if (st->msg.len + (size_t)snprintf(head, sizeof(head), "%zu ", st->msg.len) > SEND_BUF) {
		st->d_oversize++;
		return IW_ERR;
	}
	if (!enqueue(st)) {
		pump(st); /* make room if the socket takes some now */
		if (!enqueue(st)) {
			st->d_full++;
			return IW_ERR;
		}
	}
	pump(st);
	return IW_OK;
}

static int syslog_flush(void *vst)
{
	struct syslog_st *st = vst;
	if (st->tcp && st->queued > 0)
		pump(st);
	return IW_OK;
}

static void syslog_tick(void *vst)
{
	struct syslog_st *st = vst;
	if (st->tcp)
		pump(st);
}

/* Gives the frames still waiting FINISH_WAIT_S to go (reconnecting every second if need
 * be); those left are dropped. Returns every record dropped in the run. */
static uint64_t syslog_finish(void *vst)
{
	struct syslog_st *st = vst;
	if (!st->tcp)
		return dropped(st);
	st->finishing = true;
	double now = iw_mono_s(), end = now + FINISH_WAIT_S;
	if (st->link == DOWN && st->next_try > now)
		st->next_try = now;
	while (st->queued > 0 && now < end) {
		pump(st);
		if (st->queued == 0)
			break;
		now = iw_mono_s();
		double wait = end - now;
		if (st->link == DOWN && st->next_try - now < wait)
			wait = st->next_try - now;
		if (wait > 0.1)
			wait = 0.1;
		if (wait > 0) {
			if (st->link != DOWN) {
				struct pollfd p = {.fd = st->fd, .events = POLLOUT};
				poll(&p, 1, (int)(wait * 1000) + 1);
			} else {
				struct timespec ts = {0, (long)(wait * 1e9)};
				nanosleep(&ts, NULL);
			}
		}
		now = iw_mono_s();
	}
	if (st->queued > 0) {
		fprintf(stderr, "iotwatch: syslog %s: %llu records not sent at the end\n", st->address,
		        (unsigned long long)st->queued);
		st->d_unsent += st->queued;
		st->queued = 0;
		st->off = st->len = st->part = 0;
	}
	return dropped(st);
}

static void syslog_stats(void *vst, struct iw_json *j)
{
	struct syslog_st *st = vst;
	iw_json_uint(j, "sent", st->sent);
	iw_json_uint(j, "dropped", dropped(st));
	iw_json_obj_begin(j, "drops");
	iw_json_uint(j, "buffer_full", st->d_full);
	iw_json_uint(j, "oversize", st->d_oversize);
	iw_json_uint(j, "send_error", st->d_send);
	iw_json_uint(j, "invalid", st->d_invalid);
	iw_json_uint(j, "unsent", st->d_unsent);
	iw_json_obj_end(j);
	iw_json_uint(j, "queued", st->queued);
	iw_json_uint(j, "reconnects", st->reconnects);
	iw_json_bool(j, "connected", st->link == UP);
	if (!st->tcp)
		iw_json_uint(j, "refused", st->refused);
}

static void syslog_close(void *vst)
{
	struct syslog_st *st = vst;
	if (st == NULL)
		return;
	if (st->fd >= 0)
		close(st->fd);
	iw_sbuf_free(&st->msg);
	free(st->buf);
	free(st->address);
	free(st);
}

/* The syslog exporter: on when exporters.syslog.address is set; takes alerts only.
 * open() resolves the address (a failure is one line in err) and, for TCP, starts a
 * non-blocking connect; write() returns IW_ERR for a record it dropped (counted by
 * reason in stats "drops"); finish() returns every record dropped in the run. */
const struct iw_exporter iw_exp_syslog = {
    .name = "syslog",
    .configured = syslog_configured,
    .kinds = syslog_kinds,
    .check = syslog_check,
    .open = syslog_open,
    .write = syslog_write,
    .flush = syslog_flush,
    .tick = syslog_tick,
    .finish = syslog_finish,
    .stats = syslog_stats,
    .close = syslog_close,
};
