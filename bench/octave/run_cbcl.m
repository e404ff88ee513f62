% Driver of bench/perf_deep_cbcl.py --octave-code DIR (dnmf's, not the authors'): times the
% authors' deepKL_NMF (Leplat, Gillis, Onwunta, Hien; github.com/vleplat/deep-beta-NMF-public,
% with Nicolas Gillis' nmfbook) on CBCL, r = (80, 40, 20), init_iter + deep_iter iterations,
% and prints one JSON line. Their code is not part of dnmf: DIR must hold deepKL_NMF.m,
% multilayerKLNMF.m, levelUpdateDeepKLNMF.m, updatemu_hrows.m and nmfbook's betaNMF.m,
% MUbeta.m, ND_MUbeta.m, betadiv.m, normalizeWH.m. Their lambertw comes from octave-specfun.
%
%   octave --no-gui --quiet --eval "addpath(DIR); run_cbcl('CBCL.mat', 500, 500)"
function run_cbcl(path, init_iter, deep_iter)
  if exist('lambertw') ~= 2 && exist('lambertw') ~= 5
    pkg load specfun
  end
  S = load(path);
  X = S.X';                 % 2429 images × 361 pixels, as in the authors' CBCL test
  options.maxiter = init_iter;
  options.outerit = deep_iter;
  options.display = 0;
  options.accuracy = 0;     % every iteration runs (no early stop), as dnmf's tol = 0
  options.rngseed = 0;
  t0 = tic;
  [W, H, e] = deepKL_NMF(X, [80; 40; 20], options);
  seconds = toc(t0);
  printf('{"seconds": %.4f, "errors": [%.8g, %.8g, %.8g]}\n', seconds, e(end, 1), e(end, 2), e(end, 3));
end
