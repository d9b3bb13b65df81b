"""What a perfect prior model could reach on gp-smooth / gp-noisy / gp2d (issue 17 must-show 3).

A neural process trained on the gp-mixture prior can at best return the Bayesian model average over
that prior's hyper-parameters (family, lengthscale, variance, noise) given the context: it is never
told the true ones. This script draws tasks like the evaluation tasks (src/data/tasks.ts) and
compares, per test point (latent targets):
  oracle  - exact GP posterior with the true hyper-parameters (what `eval` reports as the oracle);
  bma     - posterior-weighted mixture over a grid of the gp-mixture prior (families RBF, Matern
            1/2, 3/2, 5/2; lengthscale LogU[0.04, 4]; variance LogU[1e-3, 1]; noise LogU[1e-3, 1]);
  bma-rbf - the same with the family known (RBF);
  ml2     - the single grid point of highest marginal likelihood (ML-II, all families).
Only spatial elements (all times equal) are modelled: the evaluation tasks have no time.
Independent of the TypeScript code (numpy, eigendecompositions). Usage:
  python3 scripts/analysis/bma-floor.py gp-smooth|gp-noisy|gp2d [tasks] [seed]
"""
import sys, numpy as np

FAMS = ['rbf', 'm12', 'm32', 'm52']

def kern(fam, d, ell):
    r = d / ell
    if fam == 'rbf': return np.exp(-0.5 * r * r)
    if fam == 'm12': return np.exp(-r)
    if fam == 'm32': a = np.sqrt(3) * r; return (1 + a) * np.exp(-a)
    if fam == 'm52': a = np.sqrt(5) * r; return (1 + a + a * a / 3) * np.exp(-a)

def dist(a, b): return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

def gauss_logpdf(y, m, v): return -0.5 * (np.log(2 * np.pi * v) + (y - m) ** 2 / v)

def logmid(lo, hi, n):  # midpoints of n equal bins in log space: a quadrature of LogU[lo, hi]
    e = np.linspace(np.log(lo), np.log(hi), n + 1); return np.exp((e[:-1] + e[1:]) / 2)

ELLS, VARS, NOISES = logmid(0.04, 4, 24), logmid(1e-3, 1, 12), logmid(1e-3, 1, 18)
S2, N2 = [g.ravel() for g in np.meshgrid(VARS, NOISES ** 2, indexing='ij')]  # H = 216 (var, noise²) pairs

def task(name, rng):
    ell = 4.0 if name == 'gp-smooth' else float(np.clip(rng.beta(3, 7), 1e-3, None))
    noise = 0.5 if name == 'gp-noisy' else 0.1
    nc = int(rng.integers(128, 512)); nt = 1024
    x = rng.uniform(-2, 2, size=(nc + nt, 2))
    K = kern('rbf', dist(x, x), ell) + 1e-5 * np.eye(nc + nt)
    f = np.linalg.cholesky(K) @ rng.standard_normal(nc + nt)
    return x[:nc], f[:nc] + noise * rng.standard_normal(nc), x[nc:], f[nc:], ell, noise

def score(xc, yc, xt, yt, ell, noise):
    out = {}
    # Oracle: true hyper-parameters (variance 1, RBF).
    K = kern('rbf', dist(xc, xc), ell) + noise ** 2 * np.eye(len(xc)); Ks = kern('rbf', dist(xc, xt), ell)
    L = np.linalg.cholesky(K); a = np.linalg.solve(L, Ks); c = np.linalg.solve(L, yc)
    out['oracle'] = -gauss_logpdf(yt, a.T @ c, np.maximum(1 - (a * a).sum(0), 1e-12)).mean()
    # Grid over the prior: log p(y_c | h) and per-test-point predictive log-densities.
    lml, lpd = [], []  # per (family, ell): [H], [H, nt]
    fams_of = []
    for fam in FAMS:
        Dcc, Dct = dist(xc, xc), dist(xc, xt)
        for e in ELLS:
            lam, U = np.linalg.eigh(kern(fam, Dcc, e)); lam = np.maximum(lam, 0)
            A = U.T @ kern(fam, Dct, e); cc = U.T @ yc                   # [n, nt], [n]
            den = S2[None, :] * lam[:, None] + N2[None, :]                # [n, H]
            lml.append(-0.5 * ((cc[:, None] ** 2 / den).sum(0) + np.log(den).sum(0) + len(yc) * np.log(2 * np.pi)))
            mean = A.T @ (cc[:, None] * S2[None, :] / den)                # [nt, H]
            var = np.maximum(S2[None, :] - (A * A).T @ (S2[None, :] ** 2 / den), 1e-12)
            lpd.append(gauss_logpdf(yt[:, None], mean, var))
            fams_of.append(fam)
    lml = np.stack(lml); lpd = np.stack(lpd)                              # [G, H], [G, nt, H]
    fams_of = np.array(fams_of)
    def bma(sel):
        w = lml[sel] - lml[sel].max(); w = np.exp(w); w /= w.sum()       # uniform grid = the log-uniform prior
        m = (lpd[sel] + np.log(np.maximum(w, 1e-300))[:, None, :])
        mx = m.max(axis=(0, 2), keepdims=True)
        return -(np.log(np.exp(m - mx).sum(axis=(0, 2))) + mx[0, :, 0]).mean(), w
    out['bma'], w = bma(np.ones(len(fams_of), bool))
    out['bma-rbf'], _ = bma(fams_of == 'rbf')
    g, h = np.unravel_index(np.argmax(lml), lml.shape)
    out['ml2'] = -lpd[g, :, h].mean()
    out['p_rbf'] = w[fams_of == 'rbf'].sum()
    return out

if __name__ == '__main__':
    name = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 16; seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rng = np.random.default_rng(seed); rows = []
    for i in range(n):
        r = score(*task(name, rng)); rows.append(r)
        print(f'{name} task {i}: ' + ' '.join(f'{k} {v:.3f}' for k, v in r.items()), flush=True)
    keys = rows[0].keys()
    mean = {k: np.mean([r[k] for r in rows]) for k in keys}
    se = {k: np.std([r[k] for r in rows]) / np.sqrt(n) for k in keys}
    print(f'{name} mean of {n}: ' + ' '.join(f'{k} {mean[k]:.3f}±{se[k]:.3f}' for k in keys))
    print(f'{name} gaps to oracle: bma {mean["bma"] - mean["oracle"]:.3f}, bma-rbf {mean["bma-rbf"] - mean["oracle"]:.3f}, ml2 {mean["ml2"] - mean["oracle"]:.3f}')
