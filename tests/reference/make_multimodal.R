# Writes tests/reference/multimodal_reference.json: tables whose (restricted) likelihood
# in tau^2 has more than one maximum, metafor's answer, and the global maximum found by a
# dense profile of metafor's own log-likelihood (rma with tau2 fixed) refined by optimize().
# Run from the repository root:  Rscript tests/reference/make_multimodal.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
tight <- list(threshold = 1e-12, maxiter = 5000, tol = 1e-12)

# The tables, in metacore's canonical columns (metadat: dat.lau1992, dat.egger2001).
l <- dat.lau1992
lau <- data.frame(study = paste(l$trial, l$year), events_t = l$ai, n_t = l$n1i,
                  events_c = l$ci, n_c = l$n2i)
e <- dat.egger2001
egger <- data.frame(study = paste(e$study, e$year), events_t = e$ai, n_t = e$n1i,
                    events_c = e$ci, n_c = e$n2i)
write.csv(lau, "tests/reference/lau1992.csv", row.names = FALSE)
write.csv(egger, "tests/reference/egger2001.csv", row.names = FALSE)

profile_max <- function(dat, method) {
  ll <- function(t2) as.numeric(logLik(rma(yi, vi, data = dat, method = method, tau2 = t2)))
  upper <- 10 * (diff(range(dat$yi))^2 + max(dat$vi))
  grid <- c(0, exp(seq(log(1e-8 * min(dat$vi)), log(upper), length.out = 3000)))
  vals <- vapply(grid, ll, 0)
  i <- which.max(vals)
  if (i == 1) return(list(tau2 = 0, loglik = vals[1]))
  opt <- optimize(ll, c(grid[i - 1], grid[min(i + 1, length(grid))]), maximum = TRUE,
                  tol = 1e-14)
  list(tau2 = opt$maximum, loglik = opt$objective)
}

cases <- list(
  list(data = "lau1992", measure = "RD", method = "REML", drop = 6),
  list(data = "lau1992", measure = "RD", method = "ML", drop = 32),
  list(data = "egger2001", measure = "OR", method = "ML", drop = 14),
  list(data = "egger2001", measure = "OR", method = "REML", drop = 14))
tabs <- list(lau1992 = lau, egger2001 = egger)
out <- lapply(cases, function(cs) {
  t <- tabs[[cs$data]][-cs$drop, ]
  dat <- escalc(cs$measure, ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = t)
  fit <- suppressWarnings(rma(yi, vi, data = dat, method = cs$method, control = tight))
  best <- profile_max(dat, cs$method)
  c(cs, list(call = sprintf("rma(yi, vi, data = escalc('%s', ...)[-%d, ], method = '%s')",
                            cs$measure, cs$drop, cs$method),
             metafor_tau2 = fit$tau2, metafor_loglik = as.numeric(logLik(fit)),
             global_tau2 = best$tau2, global_loglik = best$loglik))
})
writeLines(toJSON(list(metafor_version = as.character(packageVersion("metafor")),
                       cases = out), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "tests/reference/multimodal_reference.json")
