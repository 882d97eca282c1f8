# Writes tests/reference/hksj_reference.json: the modified Hartung-Knapp-Sidik-Jonkman
# interval (metafor's test = "adhoc") and meta's adhoc.hakn.ci variants "se", "ci" and
# "IQWiG6", derived here from their formulas in meta's source (meta itself is not installed):
#   s2   = sum(w (y - mu)^2) / (k - 1), w = 1 / (vi + tau2), the HKSJ scale factor
#   "se"     : se = sqrt(max(s2, 1) / sum(w)), t(k - 1)              (= metafor's "adhoc")
#   "ci"     : the HKSJ interval, or the Wald (z) one when that is wider
#   "IQWiG6" : se = sqrt(1 / sum(w)) with t(k - 1) when the HKSJ interval is narrower than
#              the DerSimonian-Laird Wald interval, else plain HKSJ
# meta's prediction interval beside them is its default method.predict = "V": t(k - 1) with
# sqrt(se_classic^2 + tau2), i.e. metafor's predict() after test = "t".
# Run from the repository root:  Rscript tests/reference/make_hksj.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
tight <- list(threshold = 1e-12, maxiter = 5000, tol = 1e-12, stepadj = 0.5)
num <- function(x) as.numeric(x)
ax <- dat.axfors2021
ax <- escalc("OR", ai = hcq_arm_event, n1i = hcq_arm_total, ci = control_arm_event,
             n2i = control_arm_total, data = ax)
bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
data <- list(axfors = ax, bcg = bcg, bcg_k2 = bcg[1:2, ])
out <- list(metafor_version = as.character(packageVersion("metafor")), data = list(),
            fits = list())
for (name in names(data)) {
  d <- data[[name]]
  out$data[[name]] <- list(yi = num(d$yi), vi = num(d$vi))
  for (method in c("REML", "DL", "PM")) {
    fit <- function(test) suppressWarnings(rma(yi, vi, data = d, method = method,
                                               test = test, control = tight))
    z <- fit("z"); hk <- fit("knha"); ad <- fit("adhoc"); tt <- fit("t")
    pz <- predict(ad); pt <- predict(tt)
    k <- z$k; mu <- num(z$beta); tau2 <- z$tau2
    se_classic <- z$se; se_hk <- hk$se
    tcrit <- qt(0.975, k - 1); zcrit <- qnorm(0.975)
    # metafor's own adhoc fit
    out$fits[[length(out$fits) + 1]] <- list(
      data = name, method = method, ci = "hksj-adhoc",
      call = sprintf("rma(yi, vi, method = '%s', test = 'adhoc', control = tight)", method),
      estimate = mu, se = ad$se, ci_low = ad$ci.lb, ci_high = ad$ci.ub, pvalue = ad$pval,
      statistic = ad$zval, pi_low = pz$pi.lb, pi_high = pz$pi.ub, tau2 = tau2, s2 = ad$s2w)
    meta_row <- function(ci, se, crit, dfree) {
      stat <- mu / se
      p <- if (is.na(dfree)) 2 * pnorm(-abs(stat)) else 2 * pt(-abs(stat), dfree)
      list(data = name, method = method, ci = ci,
           call = "meta formulas on rma() fits (see the header)", estimate = mu, se = se,
           ci_low = mu - crit * se, ci_high = mu + crit * se, pvalue = p, statistic = stat,
           pi_low = pt$pi.lb, pi_high = pt$pi.ub, tau2 = tau2, df = dfree)
    }
    s2 <- (se_hk / se_classic)^2
    out$fits[[length(out$fits) + 1]] <- meta_row("hksj-se", if (s2 < 1) se_classic else se_hk,
                                                 tcrit, k - 1)
    wide_z <- tcrit * se_hk < zcrit * se_classic
    out$fits[[length(out$fits) + 1]] <- meta_row(
      "hksj-ci", if (wide_z) se_classic else se_hk, if (wide_z) zcrit else tcrit,
      if (wide_z) NA else k - 1)
    dl <- suppressWarnings(rma(yi, vi, data = d, method = "DL"))
    narrow <- tcrit * se_hk < zcrit * dl$se
    out$fits[[length(out$fits) + 1]] <- meta_row(
      "hksj-iqwig6", if (narrow) se_classic else se_hk, tcrit, k - 1)
  }
}
# Meta-regression with the modified HKSJ: metafor scales the covariance by max(1, s2w).
out$metareg <- list()
for (rows in list(1:13, 1:6)) {
  r <- rma(yi, vi, mods = ~ ablat, data = bcg[rows, ], test = "adhoc", control = tight)
  out$metareg[[length(out$metareg) + 1]] <- list(
    rows = rows, call = "rma(yi, vi, mods = ~ ablat, test = 'adhoc', control = tight)",
    s2w = r$s2w, estimate = num(r$beta), se = num(r$se), ci_low = num(r$ci.lb),
    ci_high = num(r$ci.ub), pvalue = num(r$pval), qm = r$QM, qm_pvalue = r$QMp)
}
out$bcg_ablat <- dat.bcg$ablat
inf <- influence(rma(yi, vi, data = bcg[1:6, ], test = "adhoc", control = tight))$inf
out$influence <- list(call = paste("influence(rma(yi, vi, data = bcg[1:6, ], test = 'adhoc',",
                                   "control = tight))"), rstudent = num(inf$rstudent))
write_json(out, "tests/reference/hksj_reference.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
