/* Thin C shim over DPDK's rte_lpm / rte_lpm6 / rte_fib / rte_fib6 for `vpcfwd bench lpm` (cargo feature `dpdk`).
 * rte_lpm_lookup and rte_lpm_lookup_bulk are inline functions, so the lookup loops live here:
 * DPDK is measured as its own users call it, with no FFI call per lookup. Each loop returns the
 * same checksum as the Rust side: the sum over keys of (next hop + 1), 0 for a miss. */
#include <stdint.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_fib.h>
#include <rte_fib6.h>

int vf_dpdk_init(void) {
    static int done = 0;
    if (done) return 0;
    /* 512-bit vectors allowed, so that rte_fib/rte_fib6 may select their AVX-512 lookups. */
    char *argv[] = {"vpcfwd", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "-m", "6144",
                    "--log-level=error", "--force-max-simd-bitwidth=512", NULL};
    int r = rte_eal_init(11, argv);
    if (r < 0) return -rte_errno;
    done = 1;
    return 0;
}

struct rte_lpm *vf_lpm4_create(const char *name, uint32_t max_rules, uint32_t tbl8s) {
    struct rte_lpm_config c = {.max_rules = max_rules, .number_tbl8s = tbl8s, .flags = 0};
    return rte_lpm_create(name, 0, &c);
}

int vf_lpm4_add(struct rte_lpm *l, uint32_t ip, uint8_t depth, uint32_t nh) {
    return rte_lpm_add(l, ip, depth, nh);
}

void vf_lpm4_free(struct rte_lpm *l) { rte_lpm_free(l); }

uint64_t vf_lpm4_sum_single(const struct rte_lpm *l, const uint32_t *keys, size_t n) {
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t nh;
        if (rte_lpm_lookup((struct rte_lpm *)l, keys[i], &nh) == 0) acc += (uint64_t)nh + 1;
    }
    return acc;
}

uint64_t vf_lpm4_sum_bulk(const struct rte_lpm *l, const uint32_t *keys, size_t n) {
    uint64_t acc = 0;
    uint32_t hops[64];
    for (size_t i = 0; i < n; i += 64) {
        unsigned m = n - i < 64 ? (unsigned)(n - i) : 64;
        rte_lpm_lookup_bulk(l, keys + i, hops, m);
        for (unsigned j = 0; j < m; j++)
            if (hops[j] & RTE_LPM_LOOKUP_SUCCESS) acc += (uint64_t)(hops[j] & 0x00FFFFFF) + 1;
    }
    return acc;
}

struct rte_lpm6 *vf_lpm6_create(const char *name, uint32_t max_rules, uint32_t tbl8s) {
    struct rte_lpm6_config c = {.max_rules = max_rules, .number_tbl8s = tbl8s, .flags = 0};
    return rte_lpm6_create(name, 0, &c);
}

int vf_lpm6_add(struct rte_lpm6 *l, const uint8_t ip[16], uint8_t depth, uint32_t nh) {
    return rte_lpm6_add(l, ip, depth, nh);
}

void vf_lpm6_free(struct rte_lpm6 *l) { rte_lpm6_free(l); }

/* Keys arrive as 16-byte network-order addresses, prepared once by the caller. */
uint64_t vf_lpm6_sum_single(const struct rte_lpm6 *l, const uint8_t (*keys)[16], size_t n) {
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t nh;
        if (rte_lpm6_lookup(l, keys[i], &nh) == 0) acc += (uint64_t)nh + 1;
    }
    return acc;
}

uint64_t vf_lpm6_sum_bulk(const struct rte_lpm6 *l, const uint8_t (*keys)[16], size_t n) {
    uint64_t acc = 0;
    int32_t hops[64];
    for (size_t i = 0; i < n; i += 64) {
        unsigned m = n - i < 64 ? (unsigned)(n - i) : 64;
        rte_lpm6_lookup_bulk_func(l, (uint8_t(*)[16])keys[i], hops, m);
        for (unsigned j = 0; j < m; j++)
            if (hops[j] >= 0) acc += (uint64_t)hops[j] + 1;
    }
    return acc;
}

/* rte_fib (DIR-24-8) and rte_fib6 (trie): 4-byte next hops, `miss` as the default next hop.
 * `type` is an enum rte_fib_lookup_type / rte_fib6_lookup_type value; the lookup function is
 * selected once after the table is filled (a negative return: this build or CPU lacks it). */
struct rte_fib *vf_fib4_create(const char *name, uint32_t max_routes, uint32_t tbl8s, uint32_t miss) {
    struct rte_fib_conf c;
    memset(&c, 0, sizeof c);
    c.type = RTE_FIB_DIR24_8;
    c.default_nh = miss;
    c.max_routes = max_routes;
    c.dir24_8.nh_sz = RTE_FIB_DIR24_8_4B;
    c.dir24_8.num_tbl8 = tbl8s;
    return rte_fib_create(name, 0, &c);
}

int vf_fib4_add(struct rte_fib *f, uint32_t ip, uint8_t depth, uint32_t nh) { return rte_fib_add(f, ip, depth, nh); }
int vf_fib4_select(struct rte_fib *f, int type) { return rte_fib_select_lookup(f, (enum rte_fib_lookup_type)type); }
void vf_fib4_free(struct rte_fib *f) { rte_fib_free(f); }

/* bulk = 1 is the single lookup (rte_fib has no other); otherwise bulks of `bulk` (<= 64) keys. */
uint64_t vf_fib4_sum(struct rte_fib *f, const uint32_t *keys, size_t n, unsigned bulk, uint32_t miss) {
    uint64_t acc = 0;
    uint64_t hops[64];
    if (bulk == 1) {
        for (size_t i = 0; i < n; i++) {
            rte_fib_lookup_bulk(f, (uint32_t *)keys + i, hops, 1);
            if (hops[0] != miss) acc += hops[0] + 1;
        }
        return acc;
    }
    for (size_t i = 0; i < n; i += bulk) {
        unsigned m = n - i < bulk ? (unsigned)(n - i) : bulk;
        rte_fib_lookup_bulk(f, (uint32_t *)keys + i, hops, m);
        for (unsigned j = 0; j < m; j++)
            if (hops[j] != miss) acc += hops[j] + 1;
    }
    return acc;
}

struct rte_fib6 *vf_fib6_create(const char *name, uint32_t max_routes, uint32_t tbl8s, uint32_t miss) {
    struct rte_fib6_conf c;
    memset(&c, 0, sizeof c);
    c.type = RTE_FIB6_TRIE;
    c.default_nh = miss;
    c.max_routes = max_routes;
    c.trie.nh_sz = RTE_FIB6_TRIE_4B;
    c.trie.num_tbl8 = tbl8s;
    return rte_fib6_create(name, 0, &c);
}

int vf_fib6_add(struct rte_fib6 *f, const uint8_t ip[16], uint8_t depth, uint32_t nh) {
    return rte_fib6_add(f, ip, depth, nh);
}
int vf_fib6_select(struct rte_fib6 *f, int type) { return rte_fib6_select_lookup(f, (enum rte_fib6_lookup_type)type); }
void vf_fib6_free(struct rte_fib6 *f) { rte_fib6_free(f); }

uint64_t vf_fib6_sum(struct rte_fib6 *f, const uint8_t (*keys)[16], size_t n, unsigned bulk, uint32_t miss) {
    uint64_t acc = 0;
    uint64_t hops[64];
    for (size_t i = 0; i < n; i += bulk) {
        unsigned m = n - i < bulk ? (unsigned)(n - i) : bulk;
        rte_fib6_lookup_bulk(f, (uint8_t(*)[16])keys[i], hops, m);
        for (unsigned j = 0; j < m; j++)
            if (hops[j] != miss) acc += hops[j] + 1;
    }
    return acc;
}
