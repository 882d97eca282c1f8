# Writes tests/reference/metafor_reference.json: reference values from R's metafor
# for metacore's tests (the tests read the JSON and never need R).
# Run from the repository root:  Rscript tests/reference/make_reference.R
# Needs: apt-get install -y r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

ds <- function(name) read.csv(file.path("metacore/datasets", paste0(name, ".csv")))
ref <- function(name) read.csv(file.path("tests/reference", paste0(name, ".csv")))
tight <- list(threshold = 1e-12, maxiter = 5000, tol = 1e-12, stepadj = 0.5)
num <- function(x) as.numeric(x)

tables <- list(
  bcg = ds("bcg"), magnesium = ds("magnesium"), simulated80 = ds("simulated80"),
  bcg_k2 = ds("bcg")[1:2, ],
  zeros = data.frame(study = paste("Z", 1:6), events_t = c(0, 0, 3, 12, 0, 5),
                     n_t = c(20, 15, 40, 80, 10, 50), events_c = c(0, 2, 0, 15, 10, 5),
                     n_c = c(22, 15, 38, 81, 10, 50)),
  stroke = ds("stroke"), seed002 = ds("seed002"),
  seed000 = ds("seed000"), writing = ds("writing"), large_k = ref("large_k"))
# A study with a huge variance next to the seed 000 table.
hv <- ds("seed000"); hv$vi <- hv$sei^2; hv <- rbind(hv[, c("study", "yi", "vi")],
  data.frame(study = "Huge variance", yi = 3, vi = 1e6))
tables$hugevar <- hv
write.csv(tables$zeros, "tests/reference/zeros.csv", row.names = FALSE)
write.csv(hv, "tests/reference/hugevar.csv", row.names = FALSE)

esc <- function(tab, measure, ...) {
  if (measure %in% c("OR", "RR", "RD", "AS", "PETO"))
    escalc(measure, ai = tab$events_t, n1i = tab$n_t, ci = tab$events_c, n2i = tab$n_c, ...)
  else if (measure %in% c("MD", "SMD", "SMDH", "ROM"))
    escalc(measure, m1i = tab$mean_t, sd1i = tab$sd_t, n1i = tab$n_t,
           m2i = tab$mean_c, sd2i = tab$sd_c, n2i = tab$n_c, ...)
  else if (!is.null(tab$vi)) escalc("GEN", yi = tab$yi, vi = tab$vi)
  else escalc("GEN", yi = tab$yi, sei = tab$sei)
}

effects <- list()
add_eff <- function(data, measure, call, ...) {
  e <- esc(tables[[data]], measure, ...)
  effects[[length(effects) + 1]] <<- list(dataset = data, measure = measure, call = call,
    args = list(...), yi = num(e$yi), vi = num(e$vi))
}
for (d in c("bcg", "magnesium", "zeros", "simulated80"))
  for (m in c("OR", "RR", "RD", "AS", "PETO")) {
    add_eff(d, m, sprintf("escalc('%s', ai, n1i, ci, n2i)", m))
    add_eff(d, m, sprintf("escalc('%s', ..., add=0.5, to='all')", m), add = 0.5, to = "all")
    add_eff(d, m, sprintf("escalc('%s', ..., add=0.25, to='if0all')", m), add = 0.25, to = "if0all")
    add_eff(d, m, sprintf("escalc('%s', ..., to='none')", m), to = "none")
    add_eff(d, m, sprintf("escalc('%s', ..., drop00=TRUE)", m), drop00 = TRUE)
  }
for (d in c("stroke", "seed002"))
  for (m in c("MD", "SMD", "SMDH", "ROM"))
    add_eff(d, m, sprintf("escalc('%s', m1i, sd1i, n1i, m2i, sd2i, n2i)", m))

fits <- list()
cases <- list(c("bcg", "RR"), c("bcg", "OR"), c("bcg_k2", "OR"), c("magnesium", "OR"),
              c("zeros", "RD"), c("simulated80", "RR"), c("stroke", "SMD"), c("stroke", "MD"),
              c("seed002", "MD"), c("seed000", "GEN"), c("writing", "GEN"),
              c("hugevar", "GEN"), c("large_k", "GEN"))
for (cs in cases) {
  e <- esc(tables[[cs[1]]], cs[2])
  ok <- is.finite(e$yi) & is.finite(e$vi)
  e <- e[ok, ]
  for (method in c("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"))
    for (test in c("z", "knha")) {
      res <- rma(yi, vi, data = e, method = method, test = test, control = tight)
      pr <- predict(res)
      item <- list(dataset = cs[1], measure = cs[2], method = method, test = test,
        call = sprintf("rma(yi, vi, method='%s', test='%s', control=list(threshold=1e-12, maxiter=5000, tol=1e-12))", method, test),
        estimate = num(res$beta), se = res$se, ci_low = res$ci.lb, ci_high = res$ci.ub,
        pvalue = res$pval, statistic = res$zval, tau2 = res$tau2, i2 = res$I2, h2 = res$H2,
        q = res$QE, q_df = res$k - 1, q_pvalue = res$QEp, k = res$k,
        weights = num(weights(res)),
        pi_low = if (method == "FE") res$ci.lb else pr$pi.lb,
        pi_high = if (method == "FE") res$ci.ub else pr$pi.ub)
      if (method != "FE") {
        # tau2.max well above metafor's default search limit (max(100, 10 tau^2)).
        ci <- confint(res, control = list(tol = 1e-12, maxiter = 5000, tau2.max = 1e7))$random
        item$tau2_ci <- num(ci["tau^2", c("ci.lb", "ci.ub")])
        item$tau_ci <- num(ci["tau", c("ci.lb", "ci.ub")])
        item$i2_ci <- num(ci["I^2(%)", c("ci.lb", "ci.ub")])
        item$h2_ci <- num(ci["H^2", c("ci.lb", "ci.ub")])
      }
      fits[[length(fits) + 1]] <- item
    }
}

mh <- list()
for (d in c("bcg", "magnesium", "zeros", "simulated80")) {
  tab <- tables[[d]]
  for (m in c("OR", "RR", "RD")) {
    res <- rma.mh(ai = tab$events_t, n1i = tab$n_t, ci = tab$events_c, n2i = tab$n_c, measure = m)
    mh[[length(mh) + 1]] <- list(dataset = d, measure = m,
      call = sprintf("rma.mh(ai, n1i, ci, n2i, measure='%s')", m),
      estimate = num(res$beta), se = res$se, ci_low = res$ci.lb, ci_high = res$ci.ub,
      pvalue = res$pval, q = res$QE, q_pvalue = res$QEp, i2 = res$I2, h2 = res$H2,
      k = res$k, q_df = res$k.yi - 1, weights = num(weights(res)))
  }
  res <- rma.peto(ai = tab$events_t, n1i = tab$n_t, ci = tab$events_c, n2i = tab$n_c)
  mh[[length(mh) + 1]] <- list(dataset = d, measure = "PETO",
    call = "rma.peto(ai, n1i, ci, n2i)",
    estimate = num(res$beta), se = res$se, ci_low = res$ci.lb, ci_high = res$ci.ub,
    pvalue = res$pval, q = res$QE, q_pvalue = res$QEp, i2 = res$I2, h2 = res$H2,
    k = res$k, q_df = res$k.yi - 1, weights = num(weights(res)))
}

l1o <- list()
for (cs in list(c("bcg", "RR", "REML", "z"), c("seed002", "MD", "DL", "knha"),
                c("magnesium", "OR", "PM", "z"))) {
  e <- esc(tables[[cs[1]]], cs[2])
  res <- rma(yi, vi, data = e, method = cs[3], test = cs[4], control = tight)
  l <- leave1out(res, control = tight)
  l1o[[length(l1o) + 1]] <- list(dataset = cs[1], measure = cs[2], method = cs[3],
    test = cs[4], call = sprintf("leave1out(rma(yi, vi, method='%s', test='%s'))", cs[3], cs[4]),
    estimate = num(l$estimate), se = num(l$se), ci_low = num(l$ci.lb), ci_high = num(l$ci.ub),
    pvalue = num(l$pval), q = num(l$Q), tau2 = num(l$tau2), i2 = num(l$I2))
}

blups <- list()
for (cs in list(c("bcg", "RR", "REML", "z"), c("seed002", "MD", "DL", "knha"),
                c("stroke", "SMD", "PM", "z"), c("seed000", "GEN", "REML", "z"))) {
  e <- esc(tables[[cs[1]]], cs[2])
  res <- rma(yi, vi, data = e, method = cs[3], test = cs[4], control = tight)
  b <- blup(res)
  blups[[length(blups) + 1]] <- list(dataset = cs[1], measure = cs[2], method = cs[3],
    test = cs[4], call = sprintf("blup(rma(yi, vi, method='%s', test='%s'))", cs[3], cs[4]),
    pred = num(b$pred), se = num(b$se), ci_low = num(b$pi.lb), ci_high = num(b$pi.ub))
}

out <- list(metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string, effects = effects, fits = fits, mh = mh,
            leave1out = l1o, blup = blups)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/reference/metafor_reference.json")
cat("wrote", length(effects), "effect sets,", length(fits), "fits,", length(mh), "MH/Peto fits\n")
