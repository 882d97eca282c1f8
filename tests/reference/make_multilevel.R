# Reference values for metacore's multilevel models (metafor's rma.mv) and cluster-robust
# inference (metafor's robust(), with and without clubSandwich). Run from the repository root:
#   Rscript tests/reference/make_multilevel.R
# Writes tests/reference/multilevel_reference.json, tests/reference/assink2016.csv and the
# bundled table metacore/data/datasets/konstantopoulos2011.csv. Each entry records the R call.
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})

# Tight settings: metafor's defaults stop the optimiser (nlminb) and the profile search
# (uniroot, tol = eps^0.25) long before the last digits the tests compare.
ctrl <- list(rel.tol = 1e-10, iter.max = 5000, eval.max = 5000)
ctrl_uni <- list(threshold = 1e-12, maxiter = 5000)
ci_ctrl <- list(tol = 1e-10)

# --- tables -----------------------------------------------------------------------------
k11 <- dat.konstantopoulos2011
k11$label <- paste0("District ", k11$district, ", school ", k11$school)
write.csv(data.frame(study = k11$label, district = k11$district, school = k11$school,
                     year = k11$year, yi = k11$yi, vi = k11$vi),
          "metacore/data/datasets/konstantopoulos2011.csv", row.names = FALSE)
# An invented outer grouping of the districts (three "regions"), only to test four levels.
k11$region <- c("R1", "R2", "R3")[(match(k11$district, sort(unique(k11$district))) - 1) %% 3 + 1]
as16 <- dat.assink2016
as16$label <- paste0("Study ", as16$study, ", effect ", as16$esid)
write.csv(data.frame(study = as16$label, sid = as16$study, esid = as16$esid, year = as16$year,
                     deltype = as16$deltype, yi = as16$yi, vi = as16$vi),
          "tests/reference/assink2016.csv", row.names = FALSE)

ver <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
            clubSandwich = as.character(packageVersion("clubSandwich")),
            metadat = as.character(packageVersion("metadat")))

# Cheung's multilevel I^2 (metafor FAQ): sigma2 over sigma2 plus the typical within variance
# (k - p) / tr(P), P built from the sampling (co)variances alone.
i2_levels <- function(res, V) {
  W <- solve(V); X <- model.matrix(res)
  P <- W - W %*% X %*% solve(t(X) %*% W %*% X) %*% t(X) %*% W
  typical <- (res$k - res$p) / sum(diag(P))
  list(i2 = 100 * res$sigma2 / (sum(res$sigma2) + typical),
       i2_total = 100 * sum(res$sigma2) / (sum(res$sigma2) + typical), typical = typical)
}

fit_ml <- function(call_text, data, V, lrt = TRUE) {
  env <- list2env(list(dat = data, V = V, ctrl = ctrl), parent = globalenv())
  res <- eval(parse(text = call_text), envir = env)
  ci <- confint(res, control = ci_ctrl)
  cis <- if (length(res$sigma2) == 1) list(ci) else ci[seq_along(res$sigma2)]
  lo <- sapply(cis, function(z) z$random[1, 2]); hi <- sapply(cis, function(z) z$random[1, 3])
  pr <- predict(res)
  i2 <- i2_levels(res, V)
  out <- list(call = call_text, k = res$k, p = res$p, method = res$method, test = res$test,
              coef_names = rownames(res$beta), estimate = c(res$beta), se = res$se,
              zval = res$zval, pval = res$pval, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
              sigma2 = res$sigma2, sigma2_ci_lb = lo, sigma2_ci_ub = hi,
              loglik = c(logLik(res)), deviance = deviance(res), aic = AIC(res),
              i2 = i2$i2, i2_total = i2$i2_total, typical_variance = i2$typical,
              pi_lb = pr$pi.lb[1], pi_ub = pr$pi.ub[1], qm = res$QM, qm_p = res$QMp)
  if (lrt) {
    stats <- c(); pv <- c()
    for (j in seq_along(res$sigma2)) {
      fix <- rep(NA, length(res$sigma2)); fix[j] <- 0
      fix_text <- paste0("c(", paste(ifelse(is.na(fix), "NA", "0"), collapse = ", "), ")")
      res0 <- eval(parse(text = sub("\\)$", paste0(", sigma2 = ", fix_text, ")"), call_text)),
                   envir = env)
      a <- anova(res, res0)
      stats <- c(stats, a$LRT); pv <- c(pv, a$pval)
    }
    out$lrt <- stats; out$lrt_p <- pv
  }
  list(res = res, out = out)
}

fits <- list(); objs <- list()
add <- function(name, call_text, data, V = diag(data$vi)) {
  f <- fit_ml(call_text, data, V)
  fits[[name]] <<- f$out; objs[[name]] <<- f$res
}
add("k11_reml", "rma.mv(yi, vi, random = ~ 1 | district/school, data = dat, method = 'REML', control = ctrl)", k11)
add("k11_ml", "rma.mv(yi, vi, random = ~ 1 | district/school, data = dat, method = 'ML', control = ctrl)", k11)
add("k11_reml_t", "rma.mv(yi, vi, random = ~ 1 | district/school, data = dat, method = 'REML', test = 't', control = ctrl)", k11)
add("k11_reml_year", "rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = dat, method = 'REML', control = ctrl)", k11)
add("k11_ml_year_t", "rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school, data = dat, method = 'ML', test = 't', control = ctrl)", k11)
add("k11_district", "rma.mv(yi, vi, random = ~ 1 | district, data = dat, method = 'REML', control = ctrl)", k11)
add("k11_four", "rma.mv(yi, vi, random = ~ 1 | region/district/school, data = dat, method = 'REML', control = ctrl)", k11)
add("as16_reml", "rma.mv(yi, vi, random = ~ 1 | study/esid, data = dat, method = 'REML', control = ctrl)", as16)
add("as16_ml", "rma.mv(yi, vi, random = ~ 1 | study/esid, data = dat, method = 'ML', control = ctrl)", as16)
add("as16_deltype", "rma.mv(yi, vi, mods = ~ deltype, random = ~ 1 | study/esid, data = dat, method = 'REML', control = ctrl)", as16)
V6 <- vcalc(vi, cluster = study, obs = esid, rho = 0.6, data = as16)
add("as16_rho06", "rma.mv(yi, V, random = ~ 1 | study/esid, data = dat, method = 'REML', control = ctrl)", as16, V6)

# Sensitivity of the correlated-and-hierarchical-effects model to the assumed rho.
sens <- list(rho = seq(0, 0.9, by = 0.1), estimate = c(), se = c(), ci_lb = c(), ci_ub = c(),
             sigma2_outer = c(), sigma2_inner = c(),
             call = "for rho in 0, 0.1, ..., 0.9: V <- vcalc(vi, cluster = study, obs = esid, rho = rho, data = dat.assink2016); rma.mv(yi, V, random = ~ 1 | study/esid, method = 'REML', control = ctrl)")
for (r in sens$rho) {
  Vr <- vcalc(vi, cluster = study, obs = esid, rho = r, data = as16)
  m <- rma.mv(yi, Vr, random = ~ 1 | study/esid, data = as16, method = "REML", control = ctrl)
  sens$estimate <- c(sens$estimate, c(m$beta)); sens$se <- c(sens$se, m$se)
  sens$ci_lb <- c(sens$ci_lb, m$ci.lb); sens$ci_ub <- c(sens$ci_ub, m$ci.ub)
  sens$sigma2_outer <- c(sens$sigma2_outer, m$sigma2[1])
  sens$sigma2_inner <- c(sens$sigma2_inner, m$sigma2[2])
}

# --- cluster-robust inference ---------------------------------------------------------------
rob_out <- function(fit_call, rb, robust_call) {
  list(fit_call = fit_call, call = robust_call, coef_names = rownames(rb$beta),
       estimate = c(rb$beta), se = rb$se, df = rep_len(rb$ddf, length(rb$se)), tval = rb$zval,
       pval = rb$pval, ci_lb = rb$ci.lb, ci_ub = rb$ci.ub, qm = rb$QM, qm_df1 = rb$QMdf[1],
       qm_df2 = rb$QMdf[2], qm_p = rb$QMp, n_clusters = rb$n, vcov = unname(matrix(as.numeric(rb$vb), nrow(rb$vb))))
}
robust_set <- function(prefix, fit_call, res, cluster, cluster_name) {
  out <- list()
  out[[paste0(prefix, "_cr2")]] <- rob_out(fit_call, robust(res, cluster = cluster, clubSandwich = TRUE),
    sprintf("robust(res, cluster = %s, clubSandwich = TRUE)", cluster_name))
  out[[paste0(prefix, "_cr1")]] <- rob_out(fit_call, robust(res, cluster = cluster),
    sprintf("robust(res, cluster = %s)  # adjust = TRUE: CR0 * n / (n - p), t(n - p)", cluster_name))
  out[[paste0(prefix, "_cr0")]] <- rob_out(fit_call, robust(res, cluster = cluster, adjust = FALSE),
    sprintf("robust(res, cluster = %s, adjust = FALSE)", cluster_name))
  out
}
rob <- list()
c1 <- "rma(yi, vi, data = dat.assink2016, method = 'REML', control = list(threshold = 1e-12, maxiter = 5000))"
r1 <- rma(yi, vi, data = as16, method = "REML", control = ctrl_uni)
rob <- c(rob, robust_set("pool_as16", c1, r1, as16$study, "study"))
c2 <- "rma(yi, vi, data = dat.konstantopoulos2011, method = 'DL')"
r2 <- rma(yi, vi, data = k11, method = "DL")
rob <- c(rob, robust_set("pool_k11_dl", c2, r2, k11$district, "district"))
c3 <- "rma(yi, vi, data = dat.konstantopoulos2011, method = 'EE')"
r3 <- rma(yi, vi, data = k11, method = "EE")
rob <- c(rob, robust_set("pool_k11_ee", c3, r3, k11$district, "district"))
c4 <- "rma(yi, vi, mods = ~ year + deltype, data = dat.assink2016, method = 'REML', control = list(threshold = 1e-12, maxiter = 5000))"
r4 <- rma(yi, vi, mods = ~ year + deltype, data = as16, method = "REML", control = ctrl_uni)
rob <- c(rob, robust_set("metareg_as16", c4, r4, as16$study, "study"))
rob <- c(rob, robust_set("ml_as16", fits$as16_reml$call, objs$as16_reml, as16$study, "study"))
rob <- c(rob, robust_set("ml_as16_deltype", fits$as16_deltype$call, objs$as16_deltype, as16$study, "study"))
rob <- c(rob, robust_set("ml_as16_rho06", fits$as16_rho06$call, objs$as16_rho06, as16$study, "study"))
rob <- c(rob, robust_set("ml_k11_year", fits$k11_reml_year$call, objs$k11_reml_year, k11$district, "district"))
rob <- c(rob, robust_set("ml_k11", fits$k11_reml$call, objs$k11_reml, k11$district, "district"))

out <- list(versions = ver, note = paste(
  "k11 = dat.konstantopoulos2011 (region: districts in sorted order assigned R1, R2, R3, R1, ...);",
  "as16 = dat.assink2016. control = list(rel.tol = 1e-10, iter.max = 5000, eval.max = 5000) (nlminb fails to converge on some profile refits at 1e-12);",
  "sigma2 CIs from confint(res, control = list(tol = 1e-10)); LRT from",
  "anova(res, <the same call with sigma2 = c(.., 0, ..)>); I2 per level as the metafor FAQ",
  "(W = solve(V))."), fits = fits, rho_sensitivity = sens, robust = rob)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/multilevel_reference.json")
