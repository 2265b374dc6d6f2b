/*
 * Temporal channel normalization in training (BP-SRM.md section 4, statistics per channel c, affine per
 * (t, c)): the passes over memory that PyTorch would spread over a batch norm and several element-wise
 * operations. Loaded with ctypes by bpsrm/network/tcn_cpu.py; no Python API.
 *
 * Layout: z and g are [T, B, C, S] contiguous (S = the spatial size, 1 after a linear layer), except that
 * z may repeat one [B, C, S] block at every step (z_step = 0: direct encoding's first layer). Sums are
 * accumulated in double, eight partial sums per (channel, row) then added in a fixed order, so a result
 * does not depend on the number of threads. Channels are shared among OpenMP threads.
 *
 *   moments:   mean[c] = sum z / N,  var[c] = sum (z - mean[c])^2 / N        (N = T B S; two passes)
 *   sums:      sum_g[t, c] = sum_{b,s} g,  sum_gz[t, c] = sum_{b,s} g (z - mean[c])
 *   grad:      dz = k_g[t, c] g + k_z[c] (z - mean[c]) + k_c[c]
 */
#include <stdint.h>

#define LANES 8

#define DEFINE_TCN(T, SUFFIX)                                                                                   \
    /* sum over one row's S values of (z - shift), or of (z - shift)^2 when square is set */                    \
    static double row_sum_##SUFFIX(const T *restrict z, long S, double shift, int square) {                     \
        double part[LANES] = {0};                                                                               \
        long s = 0;                                                                                             \
        for (; s + LANES <= S; s += LANES) {                                                                    \
            for (int k = 0; k < LANES; ++k) {                                                                   \
                const double d = (double)z[s + k] - shift;                                                      \
                part[k] += square ? d * d : d;                                                                  \
            }                                                                                                   \
        }                                                                                                       \
        for (; s < S; ++s) {                                                                                    \
            const double d = (double)z[s] - shift;                                                              \
            part[0] += square ? d * d : d;                                                                      \
        }                                                                                                       \
        double total = 0.0;                                                                                     \
        for (int k = 0; k < LANES; ++k) total += part[k];                                                       \
        return total;                                                                                           \
    }                                                                                                           \
                                                                                                                \
    void bpsrm_tcn_moments_##SUFFIX(const T *z, long rows, long C, long S, double *mean, double *var,           \
                                    int threads) {                                                              \
        const double count = (double)rows * (double)S;                                                          \
        _Pragma("omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)")                     \
        for (long c = 0; c < C; ++c) {                                                                          \
            double total = 0.0;                                                                                 \
            for (long r = 0; r < rows; ++r) total += row_sum_##SUFFIX(z + (r * C + c) * S, S, 0.0, 0);          \
            const double mu = total / count;                                                                    \
            double squares = 0.0;                                                                               \
            for (long r = 0; r < rows; ++r) squares += row_sum_##SUFFIX(z + (r * C + c) * S, S, mu, 1);         \
            mean[c] = mu;                                                                                       \
            var[c] = squares / count;                                                                           \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    void bpsrm_tcn_sums_##SUFFIX(const T *g, const T *z, const double *mean, long steps, long B, long C,        \
                                 long S, long z_step, double *sum_g, double *sum_gz, int threads) {             \
        _Pragma("omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)")                     \
        for (long c = 0; c < C; ++c) {                                                                          \
            const double mu = mean[c];                                                                          \
            for (long t = 0; t < steps; ++t) {                                                                  \
                double total_g = 0.0, total_gz = 0.0;                                                           \
                for (long b = 0; b < B; ++b) {                                                                  \
                    const T *restrict gr = g + ((t * B + b) * C + c) * S;                                       \
                    const T *restrict zr = z + t * z_step + (b * C + c) * S;                                    \
                    double pg[LANES] = {0}, pgz[LANES] = {0};                                                   \
                    long s = 0;                                                                                 \
                    for (; s + LANES <= S; s += LANES) {                                                        \
                        for (int k = 0; k < LANES; ++k) {                                                       \
                            const double gv = (double)gr[s + k];                                                \
                            pg[k] += gv;                                                                        \
                            pgz[k] += gv * ((double)zr[s + k] - mu);                                            \
                        }                                                                                       \
                    }                                                                                           \
                    for (; s < S; ++s) {                                                                        \
                        const double gv = (double)gr[s];                                                        \
                        pg[0] += gv;                                                                            \
                        pgz[0] += gv * ((double)zr[s] - mu);                                                    \
                    }                                                                                           \
                    for (int k = 0; k < LANES; ++k) {                                                           \
                        total_g += pg[k];                                                                       \
                        total_gz += pgz[k];                                                                     \
                    }                                                                                           \
                }                                                                                               \
                sum_g[t * C + c] = total_g;                                                                     \
                sum_gz[t * C + c] = total_gz;                                                                   \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    void bpsrm_tcn_grad_##SUFFIX(const T *g, const T *z, const T *mean, const T *k_g, const T *k_z,             \
                                 const T *k_c, T *dz, long steps, long B, long C, long S, long z_step,          \
                                 int threads) {                                                                 \
        _Pragma("omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)")                     \
        for (long row = 0; row < steps * B; ++row) {                                                            \
            const long t = row / B, b = row % B;                                                                \
            for (long c = 0; c < C; ++c) {                                                                      \
                const long at = (row * C + c) * S;                                                              \
                const T *restrict gr = g + at, *restrict zr = z + t * z_step + (b * C + c) * S;                 \
                T *restrict out = dz + at;                                                                      \
                const T mu = mean[c], a = k_g[t * C + c], kz = k_z[c], kc = k_c[c];                             \
                for (long s = 0; s < S; ++s) out[s] = (gr[s] * a + (zr[s] - mu) * kz) + kc;                     \
            }                                                                                                   \
        }                                                                                                       \
    }

DEFINE_TCN(float, f32)
DEFINE_TCN(double, f64)
