% Driver of bench/octave/minvol_agreement.py (dnmf's, not the authors'): the authors' min-vol
% deep KL-NMF (their deepKL_NMF.m with options.min_vol = 1, via the scratch copy
% deepKL_NMF_given.m that agreement.py writes) from given factors, with the settings of their
% demos/test_deepKLNMF_HSI.m (rho 100, thres 1e-6, 200 ADMM iterations, accelerated ADMM,
% epsi 1e-7, delta 1).
%
% in.mat: X, ranks, outerit, alpha_tilde, W0_1…W0_L, H0_1…H0_L (columns of W summing to one).
% out.mat: W_ℓ, H_ℓ, e (errors per iteration), e_m (their objective), alpha.
function minvol_scene(in_path, out_path)
  if exist('lambertw') ~= 2 && exist('lambertw') ~= 5
    pkg load specfun
  end
  S = load(in_path);
  L = numel(S.ranks);
  for i = 1:L
    W{i} = S.(sprintf('W0_%d', i));
    H{i} = S.(sprintf('H0_%d', i));
  end
  o = struct();
  o.W = W;
  o.H = H;
  o.outerit = S.outerit;
  o.display = 0;
  o.min_vol = 1;
  o.alpha_tilde = S.alpha_tilde(:);
  o.delta = ones(1, L);
  o.epsi = 1e-7;
  o.rho = 100;
  o.thres = 1e-6;
  o.innerloop = 1;
  o.maxIterADMM = 200;
  o.accADMM = 1;
  t0 = tic;
  [Wd, Hd, e, inWH, output] = deepKL_NMF_given(S.X, S.ranks(:), o);
  out.seconds = toc(t0);
  out.e = e;
  out.e_m = output.e_m;
  out.alpha = output.alpha;
  for i = 1:L
    out.(sprintf('W_%d', i)) = Wd{i};
    out.(sprintf('H_%d', i)) = Hd{i};
  end
  save('-v7', out_path, '-struct', 'out');
end
