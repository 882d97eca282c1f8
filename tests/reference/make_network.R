# Writes tests/reference/network_reference.json: network meta-analysis references for
# mc.network and metacore.diagnostics.network, from metafor's rma.mv (contrast-based model,
# one tau^2, rho = 1/2) on the two bundled networks, and from published formulas where
# netmeta (not installable here) would be the usual tool:
#   - generalised DerSimonian-Laird tau^2 (Jackson, White & Riley 2012; netmeta's formula):
#     tau2 = max(0, (Q - df) / tr(P0 R)), P0 = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1;
#   - Knapp-Hartung scaling (rma.uni's test = "knha" carried to the network; rma.mv 3.8 has no
#     such option): vcov * r'S^-1 r / (k - p), t with k - p df;
#   - P-scores (Ruecker & Schwarzer 2015): mean over j of pnorm((d_j - d_i) / se_ij);
#   - design-by-treatment decomposition (Krahn, Binder & Koenig 2013; netmeta decomp.design);
#   - back-calculation of indirect evidence (SIDE, Dias et al. 2010; netmeta netsplit), with
#     direct estimates pooled over the studies of each comparison, each pair with its own
#     full variance (netmeta's TE.direct from seTE.orig);
#   - the design-level hat-matrix contribution matrix |H| / rowSums|H| (Krahn et al. 2013;
#     the starting point of Papakonstantinou et al. 2018): network estimates = H x the
#     design-level GLS estimates of the design-by-treatment interaction model.
# Common-effect results are cross-checked two ways (rma.mv without random effects and a direct
# GLS solve) and the script stops if they differ.
# Run from the repository root:  Rscript tests/reference/make_network.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
# nlminb stops reporting convergence below rel.tol = 1e-10 here, so tau^2 is also found by
# optimize() on the (restricted) log-likelihood written out by hand, to 1e-13, and both kept.
ctrl <- list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000)
ds <- function(name) read.csv(file.path("metacore/data/datasets", paste0(name, ".csv")),
                              stringsAsFactors = FALSE)
num <- function(x) as.numeric(x)

# Arm variances and arm-level quantities g (log odds or mean); 0.5 added to events and
# non-events of every arm of a study with a zero-event or all-event arm.
arm_terms <- function(a, measure) {
  if (measure == "OR") {
    cc <- if (any(a$events == 0 | a$events == a$n)) 0.5 else 0
    x <- a$events + cc; nx <- a$n - a$events + cc
    list(g = log(x / nx), v = 1 / x + 1 / nx)
  } else list(g = a$mean, v = a$sd^2 / a$n)
}

# Contrasts of every arm against the study's first arm, with the shared-arm covariance.
contrasts <- function(arms, measure, treatments, reference) {
  rows <- list(); blocks <- list()
  for (s in unique(arms$study)) {
    a <- arms[arms$study == s, ]
    t <- arm_terms(a, measure)
    m <- nrow(a) - 1
    rows[[s]] <- data.frame(study = s, base = a$treatment[1], treat = a$treatment[-1],
                            yi = t$g[-1] - t$g[1], vi = t$v[-1] + t$v[1])
    B <- matrix(t$v[1], m, m); diag(B) <- t$v[-1] + t$v[1]
    blocks[[s]] <- B
  }
  dat <- do.call(rbind, rows); rownames(dat) <- NULL
  dat$comp <- paste(dat$base, dat$treat, sep = ":")
  others <- setdiff(treatments, reference)
  X <- sapply(others, function(tr) (dat$treat == tr) - (dat$base == tr))
  X <- matrix(X, nrow = nrow(dat), dimnames = list(NULL, others))
  for (tr in others) dat[[make.names(tr)]] <- X[, tr]
  list(dat = dat, V = bldiag(blocks), X = X, others = others)
}

# tau^2 covariance pattern: 1 on the diagonal, 1/2 between contrasts of one study.
rho_matrix <- function(dat) {
  R <- outer(dat$study, dat$study, "==") * 0.5
  diag(R) <- 1
  R
}

gls <- function(X, y, S) {
  Si <- solve(S)
  vb <- solve(t(X) %*% Si %*% X)
  b <- vb %*% t(X) %*% Si %*% y
  r <- y - X %*% b
  list(b = num(b), vb = vb, q = num(t(r) %*% Si %*% r),
       P = Si - Si %*% X %*% vb %*% t(X) %*% Si)
}

# tau^2 maximising the (restricted) log-likelihood, by optimize() to 1e-13.
tau2_by_hand <- function(X, y, V, R, method) {
  ll <- function(t2) {
    S <- V + t2 * R
    g <- gls(X, y, S)
    v <- -0.5 * num(determinant(S)$modulus) - 0.5 * g$q
    if (method == "REML") v <- v - 0.5 * num(determinant(solve(g$vb))$modulus)
    v
  }
  upper <- 10 * (diff(range(y))^2 + max(diag(V)))
  optimize(ll, c(0, upper), maximum = TRUE, tol = 1e-13)$maximum
}

league <- function(b, vb, treatments, reference, others, tau2, crit) {
  d <- setNames(c(0, b), c(reference, others))
  C <- matrix(0, length(treatments), length(b) + 1,
              dimnames = list(treatments, c(reference, others)))
  full <- rbind(0, cbind(0, vb)); dimnames(full) <- list(c(reference, others), c(reference, others))
  out <- list(t1 = c(), t2 = c(), estimate = c(), se = c(), ci_low = c(), ci_high = c(),
              pi_low = c(), pi_high = c())
  for (i in treatments) for (j in treatments) if (i != j) {
    e <- d[[i]] - d[[j]]
    s <- sqrt(full[i, i] + full[j, j] - 2 * full[i, j])
    ps <- sqrt(s^2 + tau2)
    out$t1 <- c(out$t1, i); out$t2 <- c(out$t2, j); out$estimate <- c(out$estimate, e)
    out$se <- c(out$se, s); out$ci_low <- c(out$ci_low, e - crit * s)
    out$ci_high <- c(out$ci_high, e + crit * s)
    out$pi_low <- c(out$pi_low, e - crit * ps); out$pi_high <- c(out$pi_high, e + crit * ps)
  }
  out
}

pscores <- function(b, vb, treatments, reference, others, good) {
  d <- setNames(c(0, b), c(reference, others))
  full <- rbind(0, cbind(0, vb)); dimnames(full) <- list(c(reference, others), c(reference, others))
  sapply(treatments, function(i) {
    mean(sapply(setdiff(treatments, i), function(j) {
      s <- sqrt(full[i, i] + full[j, j] - 2 * full[i, j])
      z <- (d[[j]] - d[[i]]) / s
      pnorm(if (good) z else -z)
    }))
  })
}

fit_summary <- function(call, b, vb, tau2, q, qdf, crit, df, k, cn, treatments, reference,
                        extra = list()) {
  se <- sqrt(diag(vb)); ps <- sqrt(se^2 + tau2)
  c(list(call = call, tau2 = tau2, q = q, q_df = qdf, q_pvalue = pchisq(q, qdf, lower.tail = FALSE),
         df = df, k = k, treatments = cn$others, estimate = b, se = num(se),
         ci_low = b - crit * se, ci_high = b + crit * se, pi_low = b - crit * ps,
         pi_high = b + crit * ps,
         league = league(b, vb, treatments, reference, cn$others, tau2, crit),
         pscore_good = num(pscores(b, vb, treatments, reference, cn$others, TRUE)),
         pscore_bad = num(pscores(b, vb, treatments, reference, cn$others, FALSE))), extra)
}

# Direct estimates per comparison (t1 minus t2, t1 before t2 in `treatments`) from the studies
# containing both, each pair with its full variance (arm variances + tau2 / 2 each), as
# netmeta's TE.direct (metagen on seTE.orig) and Krahn's direct estimates.
direct <- function(arms, measure, treatments, tau2) {
  out <- list()
  for (i in seq_along(treatments)) for (j in seq_along(treatments)) if (i < j) {
    t1 <- treatments[i]; t2 <- treatments[j]
    ys <- c(); ws <- c(); studies <- c()
    for (s in unique(arms$study)) {
      a <- arms[arms$study == s, ]
      if (!(t1 %in% a$treatment && t2 %in% a$treatment)) next
      t <- arm_terms(a, measure)
      v <- t$v + tau2 / 2
      i1 <- match(t1, a$treatment); i2 <- match(t2, a$treatment)
      ys <- c(ys, t$g[i1] - t$g[i2])
      ws <- c(ws, 1 / (v[i1] + v[i2]))
      studies <- c(studies, s)
    }
    if (length(ys)) out[[paste(t1, t2, sep = ":")]] <-
      list(t1 = t1, t2 = t2, estimate = sum(ws * ys) / sum(ws), var = 1 / sum(ws),
           k = length(ys))
  }
  out
}

network_case <- function(name, measure, reference, loo_pair) {
  arms <- ds(name)
  treatments <- c(reference, sort(setdiff(unique(arms$treatment), reference)))
  cn <- contrasts(arms, measure, treatments, reference)
  dat <- cn$dat; V <- cn$V; X <- cn$X; y <- dat$yi
  k <- nrow(dat); p <- ncol(X); R <- rho_matrix(dat)
  f <- as.formula(paste("~", paste(make.names(cn$others), collapse = " + "), "- 1"))
  fcall <- paste(deparse(f), collapse = "")
  fits <- list()
  z <- qnorm(0.975)

  # Common effect, two ways.
  ce <- rma.mv(yi, V, mods = f, data = dat)
  g0 <- gls(X, y, V)
  stopifnot(max(abs(num(ce$beta) - g0$b)) < 1e-10, abs(ce$QE - g0$q) < 1e-8,
            max(abs(num(ce$vb) - num(g0$vb))) < 1e-12)
  fits$common <- fit_summary(sprintf("rma.mv(yi, V, mods = %s, data = dat)", fcall),
                             num(ce$beta), ce$vb, 0, ce$QE, k - p, z, NA, k, cn, treatments,
                             reference, list(gls_estimate = g0$b, loglik = num(logLik(ce))))
  # REML and ML.
  for (m in c("REML", "ML")) {
    r <- rma.mv(yi, V, mods = f, random = ~ comp | study, rho = 1 / 2, data = dat,
                method = m, control = ctrl)
    fits[[m]] <- fit_summary(
      sprintf("rma.mv(yi, V, mods = %s, random = ~ comp | study, rho = 1/2, method = '%s', control = list(rel.tol = 1e-10))",
              fcall, m),
      num(r$beta), r$vb, r$tau2, r$QE, k - p, z, NA, k, cn, treatments, reference,
      list(loglik = num(logLik(r)), tau2_optimize = tau2_by_hand(X, y, V, R, m)))
    if (m == "REML") {
      # Knapp-Hartung type: vcov scaled by r'S^-1 r / (k - p), t(k - p); PI with the same t.
      S <- V + r$tau2 * R
      gr <- gls(X, y, S)
      s2 <- num(t(y - X %*% gr$b) %*% solve(S) %*% (y - X %*% gr$b)) / (k - p)
      fits$REML_hksj <- fit_summary(
        "REML fit above; vb * s2, s2 = r'S^-1 r / (k - p), t(k - p) quantile",
        num(r$beta), r$vb * s2, r$tau2, r$QE, k - p, qt(0.975, k - p), k - p, k, cn,
        treatments, reference, list(s2 = s2))
      # metafor's own predict for the prediction interval of the first treatment
      pr <- predict(r, newmods = as.numeric(seq_len(p) == 1))
      fits$REML$predict_first <- list(pred = num(pr$pred), pi_low = num(pr$pi.lb),
                                      pi_high = num(pr$pi.ub))
      reml_tau2 <- r$tau2
    }
  }
  # Generalised DerSimonian-Laird.
  tau2_dl <- max(0, (g0$q - (k - p)) / sum(diag(g0$P %*% R)))
  dl <- rma.mv(yi, V, mods = f, random = ~ comp | study, rho = 1 / 2, tau2 = tau2_dl,
               data = dat)
  fits$DL <- fit_summary(
    sprintf("tau2 = max(0, (Q - df) / tr(P0 R)); rma.mv(yi, V, mods = %s, random = ~ comp | study, rho = 1/2, tau2 = tau2)", fcall),
    num(dl$beta), dl$vb, tau2_dl, g0$q, k - p, z, NA, k, cn, treatments, reference,
    list(trace_pr = sum(diag(g0$P %*% R))))

  # Design-by-treatment decomposition.
  design <- sapply(dat$study, function(s)
    paste(sort(unique(arms$treatment[arms$study == s])), collapse = ":"))
  designs <- unique(design)
  cols <- list()
  for (dsg in designs) {
    tr <- strsplit(dsg, ":")[[1]]
    for (t in tr[-1]) cols[[paste(dsg, t)]] <- (design == dsg) * ((dat$treat == t) - (dat$base == t))
  }
  Xi <- do.call(cbind, cols)
  gi <- gls(Xi, y, V)
  r_i <- y - Xi %*% gi$b
  Vi <- solve(V)
  q_design <- sapply(designs, function(dsg) {
    idx <- which(design == dsg)
    num(t(r_i[idx]) %*% Vi[idx, idx] %*% r_i[idx])
  })
  df_design <- sapply(designs, function(dsg) sum(design == dsg) - (length(strsplit(dsg, ":")[[1]]) - 1))
  q_within <- gi$q; df_within <- k - ncol(Xi)
  q_between <- g0$q - q_within; df_between <- (k - p) - df_within
  # Cross-check: Q between designs from the design-level estimates directly.
  dpar <- do.call(rbind, lapply(designs, function(dsg) {
    tr <- strsplit(dsg, ":")[[1]]
    t(sapply(tr[-1], function(t) {
      v <- setNames(numeric(length(treatments)), treatments); v[t] <- 1; v[tr[1]] <- v[tr[1]] - 1
      v[cn$others]
    }))
  }))
  stopifnot(abs(gls(dpar, gi$b, gi$vb)$q - q_between) < 1e-8)
  tau2_within <- if (df_within > 0) max(0, (q_within - df_within) / sum(diag(gi$P %*% R))) else 0
  S_w <- V + tau2_within * R
  q_between_random <- gls(X, y, S_w)$q - gls(Xi, y, S_w)$q
  decomp <- list(q_total = g0$q, df_total = k - p, q_within = q_within, df_within = df_within,
                 q_between = q_between, df_between = df_between,
                 p_total = pchisq(g0$q, k - p, lower.tail = FALSE),
                 p_within = if (df_within > 0) pchisq(q_within, df_within, lower.tail = FALSE) else NA,
                 p_between = if (df_between > 0) pchisq(q_between, df_between, lower.tail = FALSE) else NA,
                 designs = designs, q_design = num(q_design), df_design = num(df_design),
                 tau2_within = tau2_within, q_between_random = q_between_random,
                 p_between_random = if (df_between > 0) pchisq(q_between_random, df_between, lower.tail = FALSE) else NA)

  # Back-calculation (SIDE) for common and REML.
  split_for <- function(fitname, tau2) {
    fit <- fits[[fitname]]
    d <- direct(arms, measure, treatments, tau2)
    L <- fit$league
    out <- list(t1 = c(), t2 = c(), k = c(), direct = c(), direct_se = c(), indirect = c(),
                indirect_se = c(), network = c(), network_se = c(), prop_direct = c(),
                diff = c(), diff_se = c(), z = c(), pvalue = c())
    for (e in d) {
      i <- which(L$t1 == e$t1 & L$t2 == e$t2)
      vn <- L$se[i]^2; en <- L$estimate[i]
      vi_ <- 1 / (1 / vn - 1 / e$var)
      ok <- is.finite(vi_) && vi_ > 0 && (1 / vn - 1 / e$var) > 1e-10 * (1 / vn)
      ind <- if (ok) vi_ * (en / vn - e$estimate / e$var) else NA
      ise <- if (ok) sqrt(vi_) else NA
      dse <- if (ok) sqrt(e$var + vi_) else NA
      df_ <- if (ok) e$estimate - ind else NA
      out$t1 <- c(out$t1, e$t1); out$t2 <- c(out$t2, e$t2); out$k <- c(out$k, e$k)
      out$direct <- c(out$direct, e$estimate); out$direct_se <- c(out$direct_se, sqrt(e$var))
      out$indirect <- c(out$indirect, ind); out$indirect_se <- c(out$indirect_se, ise)
      out$network <- c(out$network, en); out$network_se <- c(out$network_se, sqrt(vn))
      out$prop_direct <- c(out$prop_direct, vn / e$var)
      out$diff <- c(out$diff, df_); out$diff_se <- c(out$diff_se, dse)
      out$z <- c(out$z, df_ / dse)
      out$pvalue <- c(out$pvalue, if (ok) 2 * pnorm(-abs(df_ / dse)) else NA)
    }
    out
  }
  netsplit <- list(common = split_for("common", 0), REML = split_for("REML", reml_tau2))

  # Design-level hat-matrix contribution matrix (common effect): the interaction model's
  # design estimates gi$b with covariance gi$vb, rows dpar in the network's parameters.
  pairs <- combn(treatments, 2)
  edge <- function(t1, t2) {
    v <- setNames(numeric(length(treatments)), treatments); v[t1] <- 1; v[t2] <- -1
    v[cn$others]
  }
  Xa <- t(apply(pairs, 2, function(pr) edge(pr[1], pr[2])))
  P_d <- solve(gi$vb)
  H <- Xa %*% solve(t(dpar) %*% P_d %*% dpar) %*% t(dpar) %*% P_d
  stopifnot(max(abs(H %*% gi$b - Xa %*% g0$b)) < 1e-10)   # two-step = one-step
  A <- abs(H); A[A < 1e-12 * max(A)] <- 0
  contrib <- 100 * A / rowSums(A)
  labels <- unlist(lapply(designs, function(dsg) {
    tr <- strsplit(dsg, ":")[[1]]
    sapply(tr[-1], function(t) {
      ab <- c(t, tr[1])[order(match(c(t, tr[1]), treatments))]
      paste0(ab[1], " vs ", ab[2], if (length(tr) > 2) paste0(" [", dsg, "]") else "")
    })
  }), use.names = FALSE)
  contribution <- list(rows = paste(pairs[1, ], pairs[2, ], sep = ":"), columns = labels,
                       H = unname(lapply(seq_len(nrow(H)), function(i) num(H[i, ]))),
                       percent = unname(lapply(seq_len(nrow(H)), function(i) num(contrib[i, ]))))

  # Leave one study out, REML, for one comparison (t1 minus t2).
  loo <- list(t1 = loo_pair[1], t2 = loo_pair[2], study = c(), estimate = c(), se = c(),
              tau2 = c())
  for (s in unique(arms$study)) {
    a2 <- arms[arms$study != s, ]
    tr2 <- c(reference, sort(setdiff(unique(a2$treatment), reference)))
    c2 <- contrasts(a2, measure, tr2, reference)
    f2 <- as.formula(paste("~", paste(make.names(c2$others), collapse = " + "), "- 1"))
    r2 <- rma.mv(yi, c2$V, mods = f2, random = ~ comp | study, rho = 1 / 2, data = c2$dat,
                 method = "REML", control = ctrl)
    cvec <- as.numeric(c2$others == loo_pair[1]) - as.numeric(c2$others == loo_pair[2])
    loo$study <- c(loo$study, s)
    loo$estimate <- c(loo$estimate, sum(cvec * r2$beta))
    loo$se <- c(loo$se, sqrt(num(t(cvec) %*% r2$vb %*% cvec)))
    loo$tau2 <- c(loo$tau2, r2$tau2)
  }

  list(name = name, measure = measure, reference = reference, treatments = treatments,
       contrasts = list(study = dat$study, base = dat$base, treat = dat$treat, yi = dat$yi,
                        vi = dat$vi),
       fits = fits, decomp = decomp, netsplit = netsplit, contribution = contribution,
       loo = loo)
}

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  r_version = R.version.string,
  note = paste("Contrast-based model: rma.mv(yi, V, mods = ~ dummies - 1, random = ~ comp |",
               "study, rho = 1/2), contrasts against each study's first arm (data order)."),
  networks = list(
    hasselblad1998 = network_case("hasselblad1998", "OR", "no_contact",
                                  c("ind_counseling", "no_contact")),
    senn2013 = network_case("senn2013", "MD", "placebo", c("metformin", "placebo"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/reference/network_reference.json")
