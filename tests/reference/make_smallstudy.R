# Writes tests/reference/smallstudy_reference.json: regtest, ranktest, trimfill, fsn,
# influence, cumul and gosh from metafor on the bundled tables (tight control settings).
# Run from the repository root:  Rscript tests/reference/make_smallstudy.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
tight <- list(threshold = 1e-12, maxiter = 5000, tol = 1e-12, stepadj = 0.5)
ds <- function(name) read.csv(file.path("metacore/datasets", paste0(name, ".csv")))
bin <- function(t, m) escalc(m, ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = t)
data <- list(bcg = bin(ds("bcg"), "RR"), magnesium = bin(ds("magnesium"), "OR"),
             writing = ds("writing"))
measure <- c(bcg = "RR", magnesium = "OR", writing = "GEN")
num <- function(x) as.numeric(x)
fit <- function(d, method, test) suppressWarnings(
  rma(yi, vi, data = d, method = method, test = test, control = tight))
out <- list(metafor_version = as.character(packageVersion("metafor")), egger = list(),
            begg = list(), trimfill = list(), fsn = list(), influence = list(),
            cumul = list(), gosh = list())
for (name in names(data)) {
  d <- data[[name]]
  for (cfg in list(c("REML", "z"), c("DL", "knha"), c("FE", "z"))) {
    r <- fit(d, cfg[1], cfg[2])
    e <- regtest(r)
    out$egger[[length(out$egger) + 1]] <- list(
      data = name, measure = measure[[name]], method = cfg[1], test = cfg[2], model = "rma",
      statistic = e$zval, pvalue = e$pval, limit = num(e$est), limit_ci_low = num(e$ci.lb),
      limit_ci_high = num(e$ci.ub))
    for (est in c("L0", "R0")) {
      tf <- suppressWarnings(trimfill(r, estimator = est))
      out$trimfill[[length(out$trimfill) + 1]] <- list(
        data = name, measure = measure[[name]], method = cfg[1], test = cfg[2],
        estimator = est, k0 = tf$k0, side = tf$side, estimate = num(tf$beta), se = tf$se,
        tau2 = tf$tau2, filled = num(tf$yi[tf$fill]), se_k0 = tf$se.k0,
        p_k0 = ifelse(is.na(tf$p.k0), NA, tf$p.k0))
    }
    inf <- influence(r)$inf
    out$influence[[length(out$influence) + 1]] <- list(
      data = name, measure = measure[[name]], method = cfg[1], test = cfg[2],
      rstudent = num(inf$rstudent), dffits = num(inf$dffits), cook_d = num(inf$cook.d),
      cov_r = num(inf$cov.r), tau2_del = num(inf$tau2.del), qe_del = num(inf$QE.del),
      hat = num(inf$hat), weight = num(inf$weight), inf = inf$inf == "*")
    cu <- cumul(r)
    out$cumul[[length(out$cumul) + 1]] <- list(
      data = name, measure = measure[[name]], method = cfg[1], test = cfg[2],
      estimate = num(cu$estimate), se = num(cu$se), ci_low = num(cu$ci.lb),
      ci_high = num(cu$ci.ub), pvalue = num(cu$pval), tau2 = num(cu$tau2), i2 = num(cu$I2),
      q = num(cu$Q))
  }
  lmfit <- regtest(d$yi, d$vi, model = "lm")
  out$egger[[length(out$egger) + 1]] <- list(
    data = name, measure = measure[[name]], method = "FE", test = "z", model = "lm",
    statistic = lmfit$zval, pvalue = lmfit$pval, limit = num(lmfit$est),
    limit_ci_low = num(lmfit$ci.lb), limit_ci_high = num(lmfit$ci.ub))
  rk <- suppressWarnings(ranktest(d$yi, d$vi))
  out$begg[[length(out$begg) + 1]] <- list(data = name, measure = measure[[name]],
                                           tau = num(rk$tau), pvalue = num(rk$pval))
  for (type in c("Rosenthal", "Orwin", "Rosenberg")) {
    f <- fsn(d$yi, d$vi, type = type)
    out$fsn[[length(out$fsn) + 1]] <- list(data = name, measure = measure[[name]],
                                           type = type, n = f$fsnum, pvalue = num(f$pval))
  }
}
# GOSH: the first eight BCG trials (255 subsets), common effect and DL random effects.
g8 <- data$bcg[1:8, ]
for (method in c("FE", "DL")) {
  g <- gosh(rma(yi, vi, data = g8, method = method), progbar = FALSE)
  code <- apply(g$incl, 1, function(r) sum(2^(which(r) - 1)))
  out$gosh[[length(out$gosh) + 1]] <- list(method = method, code = code,
                                           estimate = num(g$res$estimate), i2 = num(g$res$I2),
                                           q = num(g$res$QE), k = num(g$res$k),
                                           tau2 = num(g$res$tau2))
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null"),
           "tests/reference/smallstudy_reference.json")
