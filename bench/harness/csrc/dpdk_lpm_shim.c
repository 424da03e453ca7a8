/* Thin C shim over DPDK's rte_lpm / rte_lpm6 for `vpcfwd bench lpm` (cargo feature `dpdk`).
 * rte_lpm_lookup and rte_lpm_lookup_bulk are inline functions, so the lookup loops live here:
 * DPDK is measured as its own users call it, with no FFI call per lookup. Each loop returns the
 * same checksum as the Rust side: the sum over keys of (next hop + 1), 0 for a miss. */
#include <stdint.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

int vf_dpdk_init(void) {
    static int done = 0;
    if (done) return 0;
    char *argv[] = {"vpcfwd", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "-l", "0", "-m", "1024",
                    "--log-level=error", NULL};
    int r = rte_eal_init(10, argv);
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
