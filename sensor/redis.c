/* redis.c - the Redis mirror of device state (DESIGN §7; the contract is redis.h), one
 * non-blocking hiredis connection.
 *
 * Appends format commands into an output buffer and nothing else; iw_redis_poll hands
 * that buffer to the writer thread and reads replies, gated by a poll() with a zero
 * timeout, so the caller never waits for the network. Redis answers in command order, so
 * a FIFO of what each command expects (nothing, a set's count, a claim's token, a step of
 * the handshake) is all the bookkeeping replies need.
 *
 * The writer thread does nothing but send(2): on loopback the kernel does the receiving
 * side's work in the sender's call, and that was most of what Redis cost the packet path.
 * It owns the buffer it was handed (wbuf) and the socket for writing while it has one;
 * the caller swaps a full output buffer for the empty one it gives back, and takes the
 * socket away (waiting out a send in progress) before it closes the connection. Replies
 * are read by the caller, on the same socket: the two directions are independent.
 *
 *   DOWN --retry due--> CONNECTING --SO_ERROR 0--> HANDSHAKE --AUTH, SELECT OK--> UP
 *    ^                      |                          |                          |
 *    +----------------------+--- any failure: one stderr line, backoff -----------+
 *
 * Without a password and with db 0 the handshake is empty and CONNECTING goes straight
 * to UP. Only UP takes commands from the owner; the others drop them (counted), because
 * the owner pushes everything again when resync is called. */
#include "redis.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../parsers/alloc.h"
#include "../parsers/clock.h"
#include "../parsers/fmt.h"

#define OBUF_MAX           (64u << 20) /* unsent bytes past which new commands are dropped */
#define BACKOFF_MIN_MS     1000
#define BACKOFF_MAX_MS     30000
#define CONNECT_TIMEOUT_MS 5000 /* TCP connect plus AUTH and SELECT */
#define CLAIM_TTL_S        86400
#define IO_ROUNDS          64 /* reads (16 KB each in hiredis) or writes per poll */

enum conn { C_DOWN, C_CONNECTING, C_HANDSHAKE, C_UP };

/* what the reply to one command is for */
enum want { W_NONE, W_COUNT, W_CLAIM, W_AUTH, W_SELECT };

struct pend {
	enum want want;
	uint64_t token; /* W_CLAIM */
	char *name;     /* W_COUNT: the set's name, owned */
};

struct iw_redis {
	char *host, *password, *prefix;
	unsigned port, db;
	uint64_t ttl_s;
	struct iw_redis_cb cb;

	redisContext *c; /* NULL while DOWN */
	enum conn st;
	uint64_t t_connect_ms;   /* when the current attempt started */
	uint64_t next_try_ms;    /* DOWN: when to try again */
	uint64_t backoff_ms;     /* the wait after the next failure */
	unsigned handshake_left; /* AUTH and SELECT replies still awaited */
	bool down_said;          /* the down line is printed, the up line not yet */

	struct pend *q; /* ring of pending commands, oldest at qhead */
	size_t qcap, qhead, qn;
	char *fmt; /* the command being formatted (append) */
	size_t fmt_cap;
	char *out; /* commands appended since the last hand-over to the writer */
	size_t out_len, out_cap;
	size_t handed; /* bytes of the last hand-over: the writer has at most that left */

	/* the writer thread; fd, wbuf, wlen, woff, werr, busy and quit under wmu */
	pthread_t wth;
	pthread_mutex_t wmu;
	pthread_cond_t wcv; /* work for the writer, or a send finished */
	bool wth_on;        /* the thread runs */
	int wfd;            /* the socket it writes; -1: none */
	char *wbuf;         /* what it was handed: wlen bytes, woff of them sent */
	size_t wlen, woff, wcap;
	int werr;  /* errno of a failed send, for the caller to fail on */
	bool busy; /* in send() or poll(), outside the lock, on wfd */
	bool quit;

	struct iw_redis_stats s;
};

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = iw_malloc(n);
	memcpy(d, s, n);
	return d;
}

/* ---- the FIFO of pending commands ---- */

static void q_push(struct iw_redis *r, enum want want, uint64_t token, const char *name)
{
	if (r->qn == r->qcap) {
		size_t cap = r->qcap ? r->qcap * 2 : 64;
		struct pend *v = iw_malloc(cap * sizeof(*v));
		for (size_t i = 0; i < r->qn; i++)
			v[i] = r->q[(r->qhead + i) % r->qcap];
		free(r->q);
		r->q = v;
		r->qcap = cap;
		r->qhead = 0;
	}
	struct pend *p = &r->q[(r->qhead + r->qn) % r->qcap];
	p->want = want;
	p->token = token;
	p->name = name ? dup_str(name) : NULL;
	r->qn++;
}

static bool q_pop(struct iw_redis *r, struct pend *out)
{
	if (!r->qn)
		return false;
	*out = r->q[r->qhead];
	r->qhead = (r->qhead + 1) % r->qcap;
	r->qn--;
	return true;
}

/* ---- connection state ---- */

static void host_line(const struct iw_redis *r, const char *what)
{
	fprintf(stderr, "iotwatch: redis %s:%u: %s\n", r->host, r->port, what);
}

/* ---- the writer thread ---- */

static void *writer_main(void *arg)
{
	struct iw_redis *r = arg;
	pthread_mutex_lock(&r->wmu);
	while (!r->quit) {
		if (r->wfd < 0 || r->woff == r->wlen || r->werr) {
			pthread_cond_wait(&r->wcv, &r->wmu);
			continue;
		}
		int fd = r->wfd;
		const char *b = r->wbuf + r->woff;
		size_t n = r->wlen - r->woff;
		r->busy = true;
		pthread_mutex_unlock(&r->wmu);
		/* MSG_NOSIGNAL: a peer gone away is an EPIPE here, never a SIGPIPE */
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		int e = k < 0 ? errno : 0;
		if (k < 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			poll(&pfd, 1, 20); /* short: a detach waits for it */
		}
		pthread_mutex_lock(&r->wmu);
		r->busy = false;
		if (k > 0) {
			r->woff += (size_t)k;
			if (r->woff == r->wlen)
				r->woff = r->wlen = 0;
		} else if (k < 0 && e != EAGAIN && e != EWOULDBLOCK && e != EINTR) {
			r->werr = e;
		}
		pthread_cond_broadcast(&r->wcv);
	}
	pthread_mutex_unlock(&r->wmu);
	return NULL;
}

static void writer_start(struct iw_redis *r)
{
	pthread_mutex_init(&r->wmu, NULL);
	pthread_cond_init(&r->wcv, NULL);
	r->wfd = -1;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&r->wth, NULL, writer_main, r) != 0) {
		fputs("iotwatch: cannot start the Redis writer thread\n", stderr);
		abort();
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	r->wth_on = true;
}

/* Gives the writer the connection's socket. */
static void writer_attach(struct iw_redis *r, int fd)
{
	pthread_mutex_lock(&r->wmu);
	r->wfd = fd;
	r->werr = 0;
	r->woff = r->wlen = 0;
	pthread_mutex_unlock(&r->wmu);
}

/* Takes the socket back, after a send in progress; what was not sent is dropped. */
static void writer_detach(struct iw_redis *r)
{
	pthread_mutex_lock(&r->wmu);
	r->wfd = -1;
	while (r->busy)
		pthread_cond_wait(&r->wcv, &r->wmu);
	r->woff = r->wlen = 0;
	r->werr = 0;
	pthread_mutex_unlock(&r->wmu);
}

/* Bytes appended or handed over and not yet sent. The writer's part is at most what it
 * was last handed (r->handed): only near the bound is it asked, under its lock. */
static size_t unsent(struct iw_redis *r)
{
	if (r->out_len + r->handed <= OBUF_MAX)
		return r->out_len + r->handed;
	pthread_mutex_lock(&r->wmu);
	size_t n = r->wlen - r->woff;
	pthread_mutex_unlock(&r->wmu);
	return r->out_len + n;
}

/* Ends the connection: says so once, forgets the context, answers every pending claim
 * with unanswered and schedules the next attempt. reason may point into the context. */
static void fail(struct iw_redis *r, const char *reason)
{
	/* a copy fit for one log line: the reason may be a server's error text */
	char why[160];
	size_t n = 0;
	for (const char *s = reason; *s && n < sizeof(why) - 1; s++, n++)
		why[n] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	while (n && (why[n - 1] == '.' || why[n - 1] == ' '))
		n--;
	why[n] = '\0';
	/* hiredis and strerror capitalise; ours is the middle of a sentence */
	if (why[0] >= 'A' && why[0] <= 'Z' && why[1] >= 'a' && why[1] <= 'z')
		why[0] = (char)(why[0] - 'A' + 'a');

	if (!r->down_said) {
		char line[256];
		snprintf(line, sizeof(line), "%s; state kept in memory, retrying", why);
		host_line(r, line);
		r->down_said = true;
	}
	r->s.failures++;
	writer_detach(r);
	if (r->c)
		redisFree(r->c);
	r->c = NULL;
	r->out_len = r->handed = 0;
	r->st = C_DOWN;
	r->handshake_left = 0;
	r->next_try_ms = iw_mono_ms() + r->backoff_ms;
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;

	/* state is DOWN before any callback runs: a claim made from one returns false */
	struct pend p;
	while (q_pop(r, &p)) {
		if (p.want == W_NONE || p.want == W_COUNT || p.want == W_CLAIM)
			r->s.dropped++;
		if (p.want == W_CLAIM && r->cb.unanswered)
			r->cb.unanswered(r->cb.arg, p.token);
		free(p.name);
	}
}

static void become_up(struct iw_redis *r)
{
	r->st = C_UP;
	r->backoff_ms = BACKOFF_MIN_MS;
	if (r->down_said) {
		host_line(r,
		          r->s.connects ? "connected again, re-synchronising" : "connected, synchronising");
		r->down_said = false;
	}
	r->s.connects++;
	if (r->cb.resync)
		r->cb.resync(r->cb.arg);
}

/* "<type><n>\r\n" at o; returns the end. */
static char *resp_len(char *o, char type, size_t n)
{
	*o++ = type;
	o += iw_fmt_u64(o, n);
	*o++ = '\r';
	*o++ = '\n';
	return o;
}

static void append(struct iw_redis *r, int argc, const char **argv, const size_t *lens, enum want want,
                   uint64_t token, const char *name)
{
	/* RESP (an array of bulk strings) formatted here: hiredis's own formatter goes
	 * through a printf-like sds builder, a cost per command the packet path felt */
	size_t need = 16 + 24 * (size_t)argc;
	for (int i = 0; i < argc; i++)
		need += lens[i];
	if (need > r->fmt_cap) {
		r->fmt_cap = need * 2;
		r->fmt = iw_realloc(r->fmt, r->fmt_cap);
	}
	char *o = r->fmt;
	o = resp_len(o, '*', (size_t)argc);
	for (int i = 0; i < argc; i++) {
		o = resp_len(o, '$', lens[i]);
		memcpy(o, argv[i], lens[i]);
		o += lens[i];
		*o++ = '\r';
		*o++ = '\n';
	}
	size_t n = (size_t)(o - r->fmt);
	if (r->out_len + n > r->out_cap) {
		r->out_cap = (r->out_len + n) * 2;
		r->out = iw_realloc(r->out, r->out_cap);
	}
	memcpy(r->out + r->out_len, r->fmt, n);
	r->out_len += n;
	q_push(r, want, token, name);
	r->s.commands++;
}

/* Whether ncmd more commands may be appended now; counts them dropped when not. */
static bool room(struct iw_redis *r, unsigned ncmd)
{
	if (r->st != C_UP || unsent(r) > OBUF_MAX) {
		r->s.dropped += ncmd;
		return false;
	}
	return true;
}

static void start_connect(struct iw_redis *r)
{
	r->t_connect_ms = iw_mono_ms();
	r->st = C_CONNECTING;
	/* an address does not block here; a host name is resolved by getaddrinfo, which may */
	r->c = redisConnectNonBlock(r->host, (int)r->port);
	if (!r->c)
		iw_oom();
	if (r->c->err)
		fail(r, r->c->errstr);
}

/* CONNECTING: whether the non-blocking connect has finished, and how. */
static void check_connect(struct iw_redis *r)
{
	struct pollfd pfd = {.fd = r->c->fd, .events = POLLOUT};
	if (poll(&pfd, 1, 0) <= 0) {
		if (iw_mono_ms() - r->t_connect_ms >= CONNECT_TIMEOUT_MS)
			fail(r, "connect timed out");
		return;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(r->c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fail(r, strerror(err));
		return;
	}
	if (!(pfd.revents & POLLOUT)) {
		fail(r, "connection closed while connecting");
		return;
	}
	/* a peer that vanishes without a word is found by keepalive, not by waiting */
	redisEnableKeepAlive(r->c);
	writer_attach(r, r->c->fd);
	r->handshake_left = 0;
	if (r->password) {
		const char *argv[] = {"AUTH", r->password};
		size_t lens[] = {4, strlen(r->password)};
		append(r, 2, argv, lens, W_AUTH, 0, NULL);
		r->handshake_left++;
	}
	if (r->db) {
		char db[16];
		int n = snprintf(db, sizeof(db), "%u", r->db);
		const char *argv[] = {"SELECT", db};
		size_t lens[] = {6, (size_t)n};
		append(r, 2, argv, lens, W_SELECT, 0, NULL);
		r->handshake_left++;
	}
	if (r->handshake_left)
		r->st = C_HANDSHAKE;
	else
		become_up(r);
}

/* ---- replies ---- */

static void dispatch(struct iw_redis *r, const redisReply *rep)
{
	struct pend p;
	if (!q_pop(r, &p)) {
		fail(r, "reply to no command");
		return;
	}
	r->s.replies++;
	bool err = rep->type == REDIS_REPLY_ERROR;
	if (err)
		r->s.errors++;
	switch (p.want) {
	case W_NONE:
		break;
	case W_COUNT:
		if (rep->type == REDIS_REPLY_INTEGER && rep->integer >= 0 && r->cb.count)
			r->cb.count(r->cb.arg, p.name, (uint64_t)rep->integer);
		break;
	case W_CLAIM:
		/* OK wins, nil loses; an error wins too: better two alerts than none */
		if (r->cb.claimed)
			r->cb.claimed(r->cb.arg, p.token, rep->type != REDIS_REPLY_NIL);
		break;
	case W_AUTH:
	case W_SELECT:
		if (err) {
			char why[160];
			snprintf(why, sizeof(why), "%s refused: %.*s", p.want == W_AUTH ? "AUTH" : "SELECT",
			         (int)(rep->len < 120 ? rep->len : 120), rep->str ? rep->str : "");
			fail(r, why);
		} else if (r->st == C_HANDSHAKE && !--r->handshake_left) {
			become_up(r);
		}
		break;
	}
	free(p.name);
}

static bool fd_ready(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (events | POLLERR | POLLHUP));
}

/* Hands what was appended to the writer when it has sent what it had; fails the
 * connection on the error a send met. */
static void do_write(struct iw_redis *r)
{
	if (!r->c)
		return;
	pthread_mutex_lock(&r->wmu);
	int e = r->werr;
	if (!e && r->out_len && r->wlen == 0) {
		char *b = r->wbuf;
		size_t cap = r->wcap;
		r->wbuf = r->out;
		r->wcap = r->out_cap;
		r->wlen = r->out_len;
		r->woff = 0;
		r->handed = r->out_len;
		r->out = b;
		r->out_cap = cap;
		r->out_len = 0;
		pthread_cond_broadcast(&r->wcv);
	}
	pthread_mutex_unlock(&r->wmu);
	if (e)
		fail(r, strerror(e));
}

static void do_read(struct iw_redis *r)
{
	for (int i = 0; i < IO_ROUNDS && r->c; i++) {
		if (!fd_ready(r->c->fd, POLLIN))
			return;
		if (redisBufferRead(r->c) != REDIS_OK) {
			fail(r, r->c->errstr);
			return;
		}
		while (r->c) {
			void *rep = NULL;
			if (redisGetReplyFromReader(r->c, &rep) != REDIS_OK) {
				fail(r, r->c->errstr);
				return;
			}
			if (!rep)
				break;
			dispatch(r, rep);
			freeReplyObject(rep);
		}
	}
}

/* ---- the interface ---- */

struct iw_redis *iw_redis_new(const struct iw_redis_cfg *cfg, const struct iw_redis_cb *cb)
{
	struct iw_redis *r = iw_calloc(1, sizeof(*r));
	r->host = dup_str(cfg->host ? cfg->host : "127.0.0.1");
	r->password = cfg->password ? dup_str(cfg->password) : NULL;
	r->prefix = dup_str(cfg->prefix ? cfg->prefix : "");
	r->port = cfg->port;
	r->db = cfg->db;
	r->ttl_s = cfg->ttl_s;
	if (cb)
		r->cb = *cb;
	r->backoff_ms = BACKOFF_MIN_MS;
	writer_start(r);
	start_connect(r);
	return r;
}

void iw_redis_free(struct iw_redis *r)
{
	if (!r)
		return;
	if (r->wth_on) {
		writer_detach(r);
		pthread_mutex_lock(&r->wmu);
		r->quit = true;
		pthread_cond_broadcast(&r->wcv);
		pthread_mutex_unlock(&r->wmu);
		pthread_join(r->wth, NULL);
		pthread_cond_destroy(&r->wcv);
		pthread_mutex_destroy(&r->wmu);
	}
	if (r->c)
		redisFree(r->c);
	/* the owner is going away: pending claims get no callback */
	struct pend p;
	while (q_pop(r, &p))
		free(p.name);
	free(r->q);
	free(r->fmt);
	free(r->out);
	free(r->wbuf);
	free(r->host);
	free(r->password);
	free(r->prefix);
	free(r);
}

bool iw_redis_up(const struct iw_redis *r)
{
	return r->st == C_UP;
}

/* prefix + a + b (+ c + d): a key, with its length in *len; the caller frees it. */
static char *key_make(const struct iw_redis *r, size_t *len, const char *a, const char *b, const char *c,
                      const char *d)
{
	const char *parts[] = {r->prefix, a, b, c, d};
	size_t lens[5], total = 0;
	for (int i = 0; i < 5; i++) {
		lens[i] = parts[i] ? strlen(parts[i]) : 0;
		total += lens[i];
	}
	char *k = iw_malloc(total + 1), *o = k;
	for (int i = 0; i < 5; i++) {
		memcpy(o, parts[i] ? parts[i] : "", lens[i]);
		o += lens[i];
	}
	*o = '\0';
	*len = total;
	return k;
}

static void append_expire(struct iw_redis *r, const char *key, size_t klen, uint64_t ttl_s)
{
	char ttl[24];
	int n = snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_s);
	const char *argv[] = {"EXPIRE", key, ttl};
	size_t lens[] = {6, klen, (size_t)n};
	append(r, 3, argv, lens, W_NONE, 0, NULL);
}

void iw_redis_device(struct iw_redis *r, const char *id, const char *const *fields, const char *const *values,
                     unsigned n, bool expire)
{
	unsigned pairs = 0;
	for (unsigned i = 0; i < n; i++)
		pairs += fields[i] && values[i];
	/* HSET without a pair is an error; with one the hash exists and may take a TTL */
	expire = expire && r->ttl_s;
	if (!pairs || !room(r, expire ? 2 : 1))
		return;
	size_t klen;
	char *key = key_make(r, &klen, "dev:", id, NULL, NULL);
	size_t argc = 2 + 2 * (size_t)pairs;
	const char **argv = iw_malloc(argc * sizeof(*argv));
	size_t *lens = iw_malloc(argc * sizeof(*lens));
	argv[0] = "HSET";
	lens[0] = 4;
	argv[1] = key;
	lens[1] = klen;
	size_t j = 2;
	for (unsigned i = 0; i < n; i++) {
		if (!fields[i] || !values[i])
			continue;
		argv[j] = fields[i];
		lens[j++] = strlen(fields[i]);
		argv[j] = values[i];
		lens[j++] = strlen(values[i]);
	}
	append(r, (int)argc, argv, lens, W_NONE, 0, NULL);
	if (expire)
		append_expire(r, key, klen, r->ttl_s);
	free(argv);
	free(lens);
	free(key);
}

bool iw_redis_set_add(struct iw_redis *r, const char *name, const char *member, uint64_t ts_us,
                      uint64_t window_us, uint64_t ttl_s, unsigned upkeep)
{
	uint64_t ttl = upkeep & IW_REDIS_EXPIRE ? (ttl_s ? ttl_s : r->ttl_s) : 0;
	bool trim = window_us && (upkeep & IW_REDIS_TRIM);
	if (!room(r, 2 + trim + (ttl ? 1 : 0)))
		return false;
	size_t klen, mlen = strlen(member);
	char *key = key_make(r, &klen, name, NULL, NULL, NULL);
	if (window_us) {
		/* scores are exact in a double up to 2^53 us, far beyond any packet time */
		char score[24];
		int sn = snprintf(score, sizeof(score), "%" PRIu64, ts_us);
		if (trim) {
			char cut[24];
			int cn = snprintf(cut, sizeof(cut), "(%" PRIu64,
			                  ts_us > window_us ? ts_us - window_us : 0);
			const char *rem[] = {"ZREMRANGEBYSCORE", key, "-inf", cut};
			size_t rem_lens[] = {16, klen, 4, (size_t)cn};
			append(r, 4, rem, rem_lens, W_NONE, 0, NULL);
		}
		const char *add[] = {"ZADD", key, score, member};
		size_t add_lens[] = {4, klen, (size_t)sn, mlen};
		append(r, 4, add, add_lens, W_NONE, 0, NULL);
	} else {
		const char *add[] = {"SADD", key, member};
		size_t add_lens[] = {4, klen, mlen};
		append(r, 3, add, add_lens, W_NONE, 0, NULL);
	}
	if (ttl)
		append_expire(r, key, klen, ttl);
	if (window_us) {
		/* the members within a window either side of ts: not those a replay of later
		 * traffic left ahead of this one's clock */
		char lo[24], hi[24];
		int ln = snprintf(lo, sizeof(lo), "%" PRIu64, ts_us > window_us ? ts_us - window_us : 0);
		int hn = snprintf(hi, sizeof(hi), "%" PRIu64, ts_us + window_us);
		const char *count[] = {"ZCOUNT", key, lo, hi};
		size_t count_lens[] = {6, klen, (size_t)ln, (size_t)hn};
		append(r, 4, count, count_lens, W_COUNT, 0, name);
	} else {
		const char *card[] = {"SCARD", key};
		size_t card_lens[] = {5, klen};
		append(r, 2, card, card_lens, W_COUNT, 0, name);
	}
	free(key);
	return true;
}

bool iw_redis_claim(struct iw_redis *r, const char *rule, const char *key, uint64_t ttl_s, uint64_t token)
{
	if (!room(r, 1))
		return false;
	size_t klen;
	char *k = key_make(r, &klen, "alerted:", rule, ":", key);
	char ttl[24];
	/* EX 0 is an error in Redis: no TTL given means the de-duplication day */
	int n = snprintf(ttl, sizeof(ttl), "%" PRIu64, ttl_s ? ttl_s : CLAIM_TTL_S);
	const char *argv[] = {"SET", k, "1", "NX", "EX", ttl};
	size_t lens[] = {3, klen, 1, 2, 2, (size_t)n};
	append(r, 6, argv, lens, W_CLAIM, token, NULL);
	free(k);
	return true;
}

void iw_redis_poll(struct iw_redis *r)
{
	if (r->st == C_DOWN && iw_mono_ms() >= r->next_try_ms)
		start_connect(r);
	if (r->st == C_CONNECTING)
		check_connect(r);
	if (r->st != C_HANDSHAKE && r->st != C_UP)
		return;
	/* write, read, and write again what the replies' callbacks (resync) appended */
	do_write(r);
	do_read(r);
	do_write(r);
	if (r->st == C_HANDSHAKE && iw_mono_ms() - r->t_connect_ms >= CONNECT_TIMEOUT_MS)
		fail(r, "no answer to the handshake");
}

void iw_redis_drain(struct iw_redis *r, unsigned timeout_ms)
{
	uint64_t end = iw_mono_ms() + timeout_ms;
	for (;;) {
		iw_redis_poll(r);
		/* every append queues an entry, so none left means nothing unsent or unanswered */
		if (!r->qn || !r->c)
			return;
		uint64_t now = iw_mono_ms();
		if (now >= end)
			return;
		uint64_t wait = end - now < 50 ? end - now : 50;
		/* the writer sends; this waits for replies, briefly while it has more to hand over */
		if (r->out_len && wait > 2)
			wait = 2;
		struct pollfd pfd = {.fd = r->c->fd, .events = POLLIN};
		poll(&pfd, 1, (int)wait);
	}
}

void iw_redis_stats(const struct iw_redis *r, struct iw_redis_stats *out)
{
	*out = r->s;
	out->up = r->st == C_UP;
}
