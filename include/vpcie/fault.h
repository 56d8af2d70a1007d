/* SPDX-License-Identifier: MIT */
/*
 * vpcie/fault.h - make a device misbehave on purpose.
 *
 * A fault set is a list of rules, each written in a small grammar
 *
 *	KIND:key=val,key=val,...        e.g.  ur:region=0,op=read
 *	                                      remove:after=100,back=500
 *	                                      dma:mode=flip,after=2
 *
 * (docs/fault.md lists every kind and key with what a host sees). The device
 * runtime (vpcie/device.h) owns one set per device and asks it, on every
 * region access, DMA transfer and interrupt, which rules fire; so every
 * device program gets fault injection without code of its own. Programs set
 * rules from --fault (vpcie/cli.h), at run time through the control socket
 * (`vpcie fault`), or with vpcie_dev_fault_add() below.
 *
 * The set itself knows nothing about devices: it parses rules, matches them
 * against events and keeps their counters, so tests can drive it alone.
 * Not thread-safe; the runtime uses it from its loop only.
 */
#ifndef VPCIE_FAULT_H
#define VPCIE_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vpcie_dev;

enum vpcie_fault_kind {
	VPCIE_FAULT_UR,     /* reads complete with all-ones, writes dropped */
	VPCIE_FAULT_CA,     /* the access gets a vfio-user error reply (EIO) */
	VPCIE_FAULT_REMOVE, /* surprise removal: the client's socket is closed */
	VPCIE_FAULT_DELAY,  /* the completion is late by us (+ jitter) */
	VPCIE_FAULT_HANG,   /* the access never completes */
	VPCIE_FAULT_DMA,    /* a DMA transfer goes wrong (mode) */
	VPCIE_FAULT_IRQ,    /* an interrupt goes wrong (mode) */
	VPCIE_FAULT_CFG,    /* config space reads wrong (mode) */
};

/* Modes of dma, irq and cfg rules. */
enum {
	VPCIE_FAULT_DMA_OUTSIDE = 0, /* sent to an address outside every mapping */
	VPCIE_FAULT_DMA_TRUNCATE,    /* only the first half moves; reported done */
	VPCIE_FAULT_DMA_FLIP,        /* bits flipped in the data */
	VPCIE_FAULT_DMA_DELAY,       /* starts late by us (+ jitter) */
	VPCIE_FAULT_IRQ_DROP = 0,    /* never reaches the host */
	VPCIE_FAULT_IRQ_DUP,         /* sent twice */
	VPCIE_FAULT_IRQ_DELAY,       /* sent us (+ jitter) later */
	VPCIE_FAULT_IRQ_SPURIOUS,    /* sent although the device raised none */
	VPCIE_FAULT_CFG_GARBAGE = 0, /* the bytes read are random */
	VPCIE_FAULT_CFG_NOSIZE,      /* a BAR reads 0 after its sizing write */
};

/* What a rule counts and matches. */
enum vpcie_fault_on {
	VPCIE_FAULT_ON_ACCESS, /* region accesses (BARs, ROM, config space) */
	VPCIE_FAULT_ON_DMA,    /* vpcie_dev_dma_read/write calls */
	VPCIE_FAULT_ON_IRQ,    /* vpcie_dev_irq_raise calls */
	VPCIE_FAULT_ON_TIME,   /* ms=T alone on remove / irq spurious: a timer */
};

#define VPCIE_FAULT_OP_READ 1u
#define VPCIE_FAULT_OP_WRITE 2u
#define VPCIE_FAULT_SPEC_MAX 256u  /* longest spec accepted, without the NUL */

/* One parsed rule (vpcie_fault_parse fills every field). */
struct vpcie_fault_rule {
	enum vpcie_fault_kind kind;
	int mode;                 /* dma, irq, cfg: VPCIE_FAULT_{DMA,IRQ,CFG}_* */
	enum vpcie_fault_on on;
	int region;               /* -1: any */
	uint64_t offset, len;     /* len 0: to the end of the region */
	unsigned ops;             /* VPCIE_FAULT_OP_* */
	int vector;               /* irq: -1 any (spurious: the one sent) */
	int bar;                  /* cfg nosize */
	bool has_after, has_ms, has_prob, repeat;
	uint64_t after;           /* skip this many matching events */
	uint64_t ms;              /* armed this long after it was added */
	uint32_t prob_ppm;        /* fires with this probability (parts per million) */
	uint64_t seed;            /* of its random numbers (prob, jitter, garbage, flips) */
	uint64_t us, jitter_us;   /* delay */
	bool has_back;
	uint64_t back_ms;         /* remove: the device listens again after this */
};

/*
 * Parse one rule. Strict: an unknown kind or key, a key that does not apply
 * to the kind, a repeated key, a bad or overflowing number, a missing
 * required key or an empty spec is refused. Returns 0, or -EINVAL with a
 * message naming the bad part in err (may be NULL).
 */
int vpcie_fault_parse(const char *spec, struct vpcie_fault_rule *rule, char *err, size_t errlen);

/* The rule in the canonical grammar (parses back to the same rule). Returns
 * the length vpcie_fault_format would have written, as snprintf. */
int vpcie_fault_format(const struct vpcie_fault_rule *rule, char *buf, size_t len);

/* ---- A set of rules and their triggers ---------------------------------- */

struct vpcie_fault_set;

struct vpcie_fault_set *vpcie_fault_set_new(void);
void vpcie_fault_set_free(struct vpcie_fault_set *set);

/* Add a rule (copied), armed from now_ns (CLOCK_MONOTONIC). Returns its id
 * (>= 1), or -ENOSPC (VPCIE_FAULT_MAX_RULES reached) / -ENOMEM. */
#define VPCIE_FAULT_MAX_RULES 64u
int vpcie_fault_set_add(struct vpcie_fault_set *set, const struct vpcie_fault_rule *rule,
			uint64_t now_ns);

/* Remove rule id (0: all). Returns how many were removed; -ENOENT if id
 * is not in the set. */
int vpcie_fault_set_clear(struct vpcie_fault_set *set, unsigned id);

/* What the set holds, for listing. */
struct vpcie_fault_info {
	unsigned id;
	struct vpcie_fault_rule rule;
	uint64_t seen;            /* matching events */
	uint64_t fired;
	bool spent;               /* a once-only trigger that fired */
	uint64_t armed_ns;        /* when ms= runs from */
};
unsigned vpcie_fault_set_count(const struct vpcie_fault_set *set);
/* The i-th rule (0 <= i < count), in the order they were added. */
bool vpcie_fault_set_get(const struct vpcie_fault_set *set, unsigned i,
			 struct vpcie_fault_info *info);

/* An event the runtime asks about. */
struct vpcie_fault_event {
	enum vpcie_fault_on on;
	int region;               /* access */
	uint64_t offset, len;     /* access: in the region; dma: bus address */
	bool write;               /* access, dma (write: device to host) */
	int vector;               /* irq */
	uint64_t now_ns;
};

/* A rule that fired. */
struct vpcie_fault_hit {
	unsigned id;
	const struct vpcie_fault_rule *rule; /* valid until the set changes */
	uint64_t fired;           /* how many times it has fired, this one included */
	uint64_t rand;            /* a random number from the rule's seed */
	char trigger[64];         /* "after 10 accesses", "matching access", ... */
};

/*
 * The rules that fire on ev, one per call: start with *cursor = 0 and call
 * until it returns false. Every rule ev matches counts the event, whether it
 * fires or not; a once-only rule is spent when it fires.
 */
bool vpcie_fault_set_next(struct vpcie_fault_set *set, const struct vpcie_fault_event *ev,
			  unsigned *cursor, struct vpcie_fault_hit *hit);

/* Earliest time (ns) a timed rule (on == VPCIE_FAULT_ON_TIME, not spent) is
 * due; UINT64_MAX if none. */
uint64_t vpcie_fault_set_next_due(const struct vpcie_fault_set *set);

/* ---- On a device (lib/device) ------------------------------------------- */

/*
 * Add a rule to a device's set at run time. Returns its id, or -EINVAL
 * (message in err), -ENOSPC, -ENOMEM. Logged.
 */
int vpcie_dev_fault_add(struct vpcie_dev *dev, const char *spec, char *err, size_t errlen);

/* Remove rule id, 0 for all. Returns how many were removed, or -ENOENT. */
int vpcie_dev_fault_clear(struct vpcie_dev *dev, unsigned id);

/*
 * Open the control socket at path (mode 0600; removed by vpcie_dev_free()).
 * A peer sends text lines and gets answers ending in a line "ok ..." or
 * "error ...":
 *	add SPEC      -> ok ID
 *	clear [ID]    -> ok N cleared
 *	list          -> rule ID SPEC fired=N seen=N [spent] ... then ok N rules
 * Lines are at most VPCIE_FAULT_CTL_LINE_MAX bytes; a longer one closes the
 * connection. One peer at a time: a new one replaces the old. vpcie_dev_serve()
 * opens it at SOCKET.fault when vpcie_dev_opts.fault_control is set.
 * Returns 0 or -errno.
 */
#define VPCIE_FAULT_CTL_LINE_MAX 512u
int vpcie_dev_fault_control(struct vpcie_dev *dev, const char *path);

#ifdef __cplusplus
}
#endif
#endif
