# Writes tests/reference/metareg_reference.json: meta-regression and subgroup references
# from metafor (rma with mods, rma per subgroup), with tight control settings.
# Run from the repository root:  Rscript tests/reference/make_metareg.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
tight <- list(threshold = 1e-12, maxiter = 5000, tol = 1e-12, stepadj = 0.5)
ds <- function(name) read.csv(file.path("metacore/datasets", paste0(name, ".csv")))
bin <- function(t, m) escalc(m, ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = t)
data <- list(bcg = bin(ds("bcg"), "RR"), bcg5 = bin(ds("bcg")[1:5, ], "RR"),
             magnesium = bin(ds("magnesium"), "OR"), writing = ds("writing"))
measure <- c(bcg = "RR", bcg5 = "RR", magnesium = "OR", writing = "GEN")
num <- function(x) as.numeric(x)

fit_one <- function(name, mods, method, test) {
  d <- data[[name]]
  f <- as.formula(paste("~", paste(mods, collapse = " + ")))
  r <- suppressWarnings(rma(yi, vi, mods = f, data = d, method = method, test = test,
                            control = tight))
  out <- list(data = name, measure = measure[[name]], mods = mods, method = method,
              test = test, call = sprintf("rma(yi, vi, mods = %s, method = '%s', test = '%s')",
                                          deparse(f), method, test),
              names = rownames(r$beta), estimate = num(r$beta), se = num(r$se),
              statistic = num(r$zval), pvalue = num(r$pval), ci_low = num(r$ci.lb),
              ci_high = num(r$ci.ub), tau2 = r$tau2, i2 = r$I2, h2 = r$H2,
              r2 = ifelse(is.null(r$R2), NA, r$R2), qm = r$QM, qm_pvalue = r$QMp,
              qe = r$QE, qe_pvalue = r$QEp, k = r$k, qm_df = r$QMdf)
  if (identical(mods, "ablat") && name == "bcg") {
    p <- predict(r, newmods = c(10, 30, 50))
    out$predict <- list(ablat = c(10, 30, 50), pred = num(p$pred), se = num(p$se),
                        ci_low = num(p$ci.lb), ci_high = num(p$ci.ub),
                        pi_low = num(p$pi.lb), pi_high = num(p$pi.ub))
  }
  out
}

methods <- c("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
cases <- list()
for (m in methods) for (tt in c("z", "knha")) {
  cases[[length(cases) + 1]] <- fit_one("bcg", "ablat", m, tt)
  cases[[length(cases) + 1]] <- fit_one("writing", "length", m, tt)
}
for (m in c("REML", "DL", "PM")) for (tt in c("z", "knha")) {
  cases[[length(cases) + 1]] <- fit_one("bcg", c("ablat", "subgroup"), m, tt)
  cases[[length(cases) + 1]] <- fit_one("bcg5", "ablat", m, tt)
  cases[[length(cases) + 1]] <- fit_one("magnesium", "year", m, tt)
  cases[[length(cases) + 1]] <- fit_one("writing", c("subgroup", "grade"), m, tt)
}

# Subgroups: separate tau^2 (one rma per subgroup, Wald test of differences) and a
# common tau^2 (rma with mods = ~ factor(g); group estimates from ~ factor(g) - 1).
sub_one <- function(name, by, method, test) {
  d <- data[[name]]
  g <- as.character(d[[by]])
  lv <- unique(g)
  groups <- lapply(lv, function(l) {
    r <- suppressWarnings(rma(yi, vi, data = d[g == l, ], method = method, test = test,
                              control = tight))
    list(label = l, k = r$k, estimate = num(r$beta), se = r$se, ci_low = r$ci.lb,
         ci_high = r$ci.ub, pvalue = r$pval, tau2 = r$tau2, q = r$QE, i2 = r$I2)
  })
  est <- sapply(groups, `[[`, "estimate"); se <- sapply(groups, `[[`, "se")
  wald <- rma(est, sei = se, method = "FE")
  fac <- factor(g)
  rc <- suppressWarnings(rma(yi, vi, mods = ~ fac, data = d, method = method, test = test,
                             control = tight))
  r0 <- suppressWarnings(rma(yi, vi, mods = ~ fac - 1, data = d, method = method,
                             test = test, control = tight))
  list(data = name, measure = measure[[name]], by = by, method = method, test = test,
       separate = list(groups = groups, q_between = wald$QE, q_between_df = length(lv) - 1,
                       q_between_pvalue = wald$QEp),
       common = list(levels = levels(fac), estimate = num(r0$beta), se = num(r0$se),
                     ci_low = num(r0$ci.lb), ci_high = num(r0$ci.ub), tau2 = rc$tau2,
                     qm = rc$QM, qm_pvalue = rc$QMp, qm_df = rc$QMdf))
}
subs <- list()
for (m in c("REML", "DL")) for (tt in c("z", "knha")) {
  subs[[length(subs) + 1]] <- sub_one("bcg", "subgroup", m, tt)
  subs[[length(subs) + 1]] <- sub_one("writing", "subgroup", m, tt)
}
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       metareg = cases, subgroups = subs),
                  auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/reference/metareg_reference.json")
