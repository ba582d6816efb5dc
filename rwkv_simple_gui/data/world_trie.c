/* The World vocabulary's greedy longest match (the rwkv package's TRIE_TOKENIZER) over a trie built by
 * world_trie.py. Nodes 1..256 are the single bytes 0..255 (each a token); pair[b0 << 8 | b1] is the node of a
 * two-byte prefix (0: none); deeper edges are in an open-addressed table keyed (parent << 8 | byte) + 1
 * (0 marks an empty slot), probed linearly from the key's multiplicative hash. token_of[node] is the id a
 * node ends (0: a prefix only). Ids go straight into a uint16 buffer of at least n entries. */
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t key, child;
} edge_t;

static inline uint32_t first_slot(uint32_t key, uint32_t mask) { return (key * 2654435761u) >> 8 & mask; }

size_t world_trie_encode(const edge_t *edges, uint32_t mask, const uint32_t *pair, const uint16_t *token_of,
                         const uint8_t *src, size_t n, uint16_t *out) {
    size_t i = 0, m = 0;
    while (i < n) {
        uint16_t best = token_of[src[i] + 1];
        size_t best_len = 1, j = i + 1;
        uint32_t node = j < n ? pair[(uint32_t)src[i] << 8 | src[j]] : 0;
        if (node) {
            if (token_of[node]) {
                best = token_of[node];
                best_len = 2;
            }
            for (j++; j < n; j++) {
                uint32_t key = (node << 8 | src[j]) + 1, s = first_slot(key, mask);
                while (edges[s].key && edges[s].key != key) s = (s + 1) & mask;
                if (!edges[s].key) break;
                node = edges[s].child;
                if (token_of[node]) {
                    best = token_of[node];
                    best_len = j - i + 1;
                }
            }
        }
        out[m++] = best;
        i += best_len;
    }
    return m;
}
