% Driver of bench/octave/agreement.py (dnmf's, not the authors'): runs the authors' code from
% given initial factors and saves what it reached. Their files are not part of dnmf: the
% folders on the path must hold nmfbook's betaNMF.m, MUbeta.m, ND_MUbeta.m, betadiv.m,
% normalizeWH.m and the authors' levelUpdateDeepKLNMF.m, updatemu_hrows.m, plus
% deepKL_NMF_given.m, which agreement.py writes to a scratch folder from their deepKL_NMF.m
% (their file with one block added so that it starts from options.W / options.H: as
% published, that branch leaves W, H and e undefined). lambertw comes from octave-specfun.
%
%   octave --no-gui --quiet --eval "addpath(...); agree_cbcl('in.mat', 'out.mat')"
%
% in.mat: X (m×n), ranks (1×L), maxiter, outerit, W0_1…W0_L, H0_1…H0_L.
% out.mat: multilayer factors Wml_ℓ, Hml_ℓ and errors eml (after betaNMF + normalizeWH(·,2)
% per layer, as multilayerKLNMF.m), deep factors Wdp_ℓ, Hdp_ℓ and the error table edeep
% ((outerit+1)×(L+1), row 1 = start) of deepKL_NMF started from the multilayer factors.
function agree_cbcl(in_path, out_path)
  if exist('lambertw') ~= 2 && exist('lambertw') ~= 5
    pkg load specfun
  end
  S = load(in_path);
  L = numel(S.ranks);
  options.maxiter = S.maxiter;
  options.accuracy = 0;       % every iteration runs (dnmf's stopping rule is off by default)
  options.display = 0;
  options.beta = 1;
  Y = S.X;
  out = struct();
  for i = 1:L
    options.W = S.(sprintf('W0_%d', i));
    options.H = S.(sprintf('H0_%d', i));
    [Wi, Hi] = betaNMF(Y, S.ranks(i), options);
    [Wi, Hi] = normalizeWH(Wi, Hi, 2);         % as multilayerKLNMF.m, before the next layer
    W{i} = Wi; H{i} = Hi;
    out.eml(i) = betadiv(Y, Wi * Hi, 1);
    out.(sprintf('Wml_%d', i)) = Wi;
    out.(sprintf('Hml_%d', i)) = Hi;
    Y = Wi;
  end
  dopt = struct();
  dopt.W = W;                 % assigned one by one: struct('W', W) would make a struct array
  dopt.H = H;
  dopt.outerit = S.outerit;
  dopt.display = 0;
  t0 = tic;
  [Wd, Hd, e] = deepKL_NMF_given(S.X, S.ranks(:), dopt);
  out.deep_seconds = toc(t0);
  out.edeep = e;
  for i = 1:L
    out.(sprintf('Wdp_%d', i)) = Wd{i};
    out.(sprintf('Hdp_%d', i)) = Hd{i};
  end
  save('-v7', out_path, '-struct', 'out');
end
