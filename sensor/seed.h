/* seed.h - a random key for the hash tables that traffic fills (flows, device state, DNS
 * answers). Their keys come off the wire: with a hash everyone can compute, a sender can
 * pick addresses, ports or client ids that all land in one bucket or one probe run and
 * make every lookup walk it. Each table draws its own key when it is made, so which keys
 * collide differs from one run to the next; nothing an output says depends on it (the
 * tables are never walked in slot order: lists keep every order that shows). */
#ifndef IW_SEED_H
#define IW_SEED_H

#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t iw_seed(void)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	/* no entropy yet (early boot): unpredictable enough to spoil a precomputed flood */
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return ((uint64_t)t.tv_nsec << 32 ^ (uint64_t)t.tv_sec) ^ (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
	       (uint64_t)(uintptr_t)&s;
}

#endif
