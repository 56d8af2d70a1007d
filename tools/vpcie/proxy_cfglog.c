/* SPDX-License-Identifier: MIT */
/*
 * `vpcie proxy`: the client's config-space writes, kept to be replayed
 * into a device that restarted (proxy_priv.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_priv.h"

int proxy_cfglog_add(struct proxy_cfglog *l, uint64_t off, const void *data, uint64_t len)
{
	struct proxy_cfgw w;

	if (len == 0 || len > PROXY_CFG_SPACE || off > PROXY_CFG_SPACE - len)
		return -EINVAL;
	for (unsigned i = 0; i < l->n; i++) {
		if (l->v[i].off == off && l->v[i].len == len) {
			/* the same shape again: the new value, moved last */
			w = l->v[i];
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			memcpy(w.data, data, len);
			l->v[l->n - 1] = w;
			return 0;
		}
	}
	w = (struct proxy_cfgw){.off = (uint32_t)off, .len = (uint32_t)len, .data = malloc(len)};
	if (!w.data)
		return -ENOMEM;
	memcpy(w.data, data, len);
	if (l->n == PROXY_MAX_CFGW) {
		free(l->v[0].data);
		memmove(&l->v[0], &l->v[1], (l->n - 1) * sizeof(*l->v));
		l->n--;
		l->overflowed = true;
	}
	if (l->n == l->cap) {
		unsigned cap = l->cap ? 2 * l->cap : 32;
		struct proxy_cfgw *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			free(w.data);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = w;
	return 0;
}

void proxy_cfglog_clear(struct proxy_cfglog *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i].data);
	free(l->v);
	*l = (struct proxy_cfglog){0};
}
