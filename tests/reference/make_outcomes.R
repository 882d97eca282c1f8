# Writes tests/reference/outcomes_reference.json: metafor's values for the one-group
# measures (proportions, rates, correlations, means), two-group rates and the GLMMs, for
# tests/test_outcomes.py and tests/test_glmm.py (which read the JSON and never need R).
# Run from the repository root:  Rscript tests/reference/make_outcomes.R
# Needs: r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite r-cran-lme4, and
# r-cran-gsl for escalc's UCOR (metafor computes the hypergeometric function with gsl).
suppressPackageStartupMessages({library(metafor); library(jsonlite); library(lme4)})

tight <- list(threshold = 1e-12, maxiter = 5000, tol = 1e-12, stepadj = 0.5)
num <- function(x) as.numeric(x)

# Every table in metacore's canonical columns; the JSON carries them, so the tests build
# exactly these frames.
h <- dat.hannum2020; p <- dat.pritz1997; d <- dat.debruin2009; nw <- dat.nielweise2008
ht <- dat.hart1999; nm <- dat.normand1999; cu <- dat.curtis1998
tables <- list(
  # proportions (events of n); pritz1997 has 100% studies, props_edge 0% and 100%
  olfaction = data.frame(study = h$authorName, events = h$xi, n = h$ni),
  pritz1997 = data.frame(study = p$authors, events = p$xi, n = p$ni),
  debruin2009 = data.frame(study = paste(d$author, d$year), events = d$xi, n = d$ni),
  props_edge = data.frame(study = paste("P", 1:6), events = c(0, 3, 10, 0, 25, 7),
                          n = c(15, 40, 10, 8, 25, 30)),
  # one-group rates (events in person-time), from the arms of two-group rate tables
  nielweise_t = data.frame(study = paste(nw$authors, nw$year), events = nw$x1i, time = nw$t1i),
  hart1999_c = data.frame(study = ht$study, events = ht$x2i, time = ht$t2i),
  rates_edge = data.frame(study = paste("R", 1:5), events = c(0, 2, 0, 15, 4),
                          time = c(120, 300, 80, 1500, 410.5)),
  # two-group rates
  nielweise2008 = data.frame(study = paste(nw$authors, nw$year), events_t = nw$x1i,
                             time_t = nw$t1i, events_c = nw$x2i, time_c = nw$t2i),
  hart1999 = data.frame(study = ht$study, events_t = ht$x1i, time_t = ht$t1i,
                        events_c = ht$x2i, time_c = ht$t2i),
  rates2_edge = data.frame(study = paste("T", 1:5), events_t = c(0, 3, 0, 9, 5),
                           time_t = c(200, 310, 150, 900, 420),
                           events_c = c(4, 0, 0, 14, 6), time_c = c(190, 300, 160, 880, 400)),
  # correlations; cor_edge has n = 4 (no UCOR) and n = 5
  interviews = data.frame(study = paste("Study", dat.mcdaniel1994$study),
                          r = dat.mcdaniel1994$ri, n = dat.mcdaniel1994$ni),
  molloy2014 = data.frame(study = paste(dat.molloy2014$authors, dat.molloy2014$year),
                          r = dat.molloy2014$ri, n = dat.molloy2014$ni),
  cohen1981 = data.frame(study = dat.cohen1981$study, r = dat.cohen1981$ri,
                         n = dat.cohen1981$ni),
  cor_edge = data.frame(study = paste("C", 1:5), r = c(0.5, -0.3, 0.95, 0.1, 0),
                        n = c(4, 5, 12, 30, 6)),
  # one-group means, from arms of two-group tables
  normand_t = data.frame(study = nm$source, mean = nm$m1i, sd = nm$sd1i, n = nm$n1i),
  curtis_c = data.frame(study = paste("Study", cu$id[1:30]), mean = cu$m2i[1:30],
                        sd = cu$sd2i[1:30], n = cu$n2i[1:30]))

kind_of <- function(m) {
  if (m %in% c("PR", "PLN", "PLO", "PAS", "PFT")) "proportion"
  else if (m %in% c("IR", "IRLN", "IRS", "IRFT")) "rate"
  else if (m %in% c("IRR", "IRD")) "two_rates"
  else if (m %in% c("COR", "UCOR", "ZCOR")) "correlation"
  else "mean"
}
esc <- function(tab, m, ...) switch(kind_of(m),
  proportion = escalc(m, xi = tab$events, ni = tab$n, ...),
  rate = escalc(m, xi = tab$events, ti = tab$time, ...),
  two_rates = escalc(m, x1i = tab$events_t, t1i = tab$time_t, x2i = tab$events_c,
                     t2i = tab$time_c, ...),
  correlation = escalc(m, ri = tab$r, ni = tab$n, ...),
  mean = escalc(m, mi = tab$mean, sdi = tab$sd, ni = tab$n, ...))
call_of <- function(m) switch(kind_of(m), proportion = "xi, ni", rate = "xi, ti",
  two_rates = "x1i, t1i, x2i, t2i", correlation = "ri, ni", mean = "mi, sdi, ni")

sets <- list(proportion = c("olfaction", "pritz1997", "debruin2009", "props_edge"),
             rate = c("nielweise_t", "hart1999_c", "rates_edge"),
             two_rates = c("nielweise2008", "hart1999", "rates2_edge"),
             correlation = c("interviews", "molloy2014", "cohen1981", "cor_edge"),
             mean = c("normand_t", "curtis_c"))
measures <- c("PR", "PLN", "PLO", "PAS", "PFT", "IR", "IRLN", "IRS", "IRFT", "IRR", "IRD",
              "COR", "UCOR", "ZCOR", "MN", "MNLN")

# predict(transf = ...) as metafor's documentation uses it; PFT and IRFT at the harmonic
# mean of the sizes of the studies in the fit.
transf_of <- function(m, tab, used) switch(m,
  PLO = list(f = transf.ilogit, targs = NULL, call = "transf.ilogit"),
  PAS = list(f = transf.iarcsin, targs = NULL, call = "transf.iarcsin"),
  PFT = list(f = transf.ipft.hm, targs = list(ni = tab$n[used]),
             call = "transf.ipft.hm, targs = list(ni = ni of the studies in the fit)"),
  IRFT = list(f = transf.iirft, targs = 1 / mean(1 / tab$time[used]),
              call = "transf.iirft, targs = harmonic mean of the fit's ti"),
  ZCOR = list(f = transf.ztor, targs = NULL, call = "transf.ztor"),
  IRS = list(f = transf.isqrt, targs = NULL, call = "transf.isqrt"),
  PLN = , IRLN = , IRR = , MNLN = list(f = exp, targs = NULL, call = "exp"),
  NULL)

# gsl's hyperg_2F1, which escalc uses for UCOR, loses digits near x = 1 for small g (e.g.
# r = -0.04, n = 12 gives 2F1 = 1.06475 > 2F1(x = 1) = 1.06433); the same estimator from
# the integral 2F1(1/2, 1/2; g; x) = Gamma(g) / (Gamma(1/2) Gamma(g - 1/2)) *
# int_0^1 2 (1 - s^2)^(g - 3/2) (1 - x s^2)^(-1/2) ds, by integrate().
f21 <- function(g, x) exp(lgamma(g) - lgamma(0.5) - lgamma(g - 0.5)) *
  integrate(function(s) 2 * (1 - s^2)^(g - 1.5) * (1 - x * s^2)^(-0.5), 0, 1,
            rel.tol = 1e-13, subdivisions = 1000L)$value
ucor_integrate <- function(tab) {
  g <- (tab$n - 2) / 2
  u <- tab$r * mapply(function(g, x) if (g > 1) f21(g, x) else NA_real_, g, 1 - tab$r^2)
  list(yi = num(u), vi = num(ifelse(tab$n > 3, (1 - u^2)^2 / (tab$n - 1), NA)))
}

effects <- list(); fits <- list()
for (m in measures) for (name in sets[[kind_of(m)]]) {
  tab <- tables[[name]]
  variants <- list(list(args = list(), call = ""))
  if (m %in% c("PLO", "PR", "PLN", "IRLN", "IR", "IRR", "IRD"))
    variants <- c(variants, list(list(args = list(add = 0.5, to = "all"), call = ", add=0.5, to='all'"),
                                 list(args = list(add = 0.25, to = "if0all"), call = ", add=0.25, to='if0all'"),
                                 list(args = list(to = "none"), call = ", to='none'")))
  if (m %in% c("PFT", "PAS", "IRFT", "IRS"))
    variants <- c(variants, list(list(args = list(add = 0.5), call = ", add=0.5")))
  if (m %in% c("IRR", "IRD"))
    variants <- c(variants, list(list(args = list(drop00 = TRUE), call = ", drop00=TRUE")))
  for (v in variants) {
    e <- suppressWarnings(do.call(esc, c(list(tab, m), v$args)))
    case <- list(dataset = name, measure = m, args = v$args,
                 call = sprintf("escalc('%s', %s%s)", m, call_of(m), v$call),
                 yi = num(e$yi), vi = num(e$vi))
    if (m == "UCOR") {
      u <- ucor_integrate(tab)
      case$yi_integrate <- u$yi
      case$vi_integrate <- u$vi
    }
    effects[[length(effects) + 1]] <- case
  }
  e <- suppressWarnings(esc(tab, m))
  if (m == "UCOR") e <- ucor_integrate(tab)   # the fit on the accurate estimates
  used <- is.finite(e$yi) & is.finite(e$vi) & e$vi > 0
  if (sum(used) < 2) next
  res <- rma(e$yi[used], e$vi[used], method = "REML", control = tight)
  pr <- predict(res)
  tr <- transf_of(m, tab, used)
  nat <- if (is.null(tr)) pr else predict(res, transf = tr$f, targs = tr$targs)
  fits[[length(fits) + 1]] <- list(
    dataset = name, measure = m,
    call = sprintf("rma(yi, vi, method='REML', control=tight); predict(res%s)%s",
                   if (is.null(tr)) "" else paste0(", transf=", tr$call),
                   if (m == "UCOR") "; UCOR's yi from integrate(), see above" else ""),
    estimate = num(res$beta), se = res$se, tau2 = res$tau2, k = res$k,
    ci_low = res$ci.lb, ci_high = res$ci.ub, pi_low = pr$pi.lb, pi_high = pr$pi.ub,
    natural = list(estimate = num(nat$pred), ci_low = num(nat$ci.lb), ci_high = num(nat$ci.ub),
                   pi_low = num(nat$pi.lb), pi_high = num(nat$pi.ub)))
}

# Study-level intervals of a proportion: Clopper-Pearson (binom.test) and Wilson
# (prop.test without continuity correction).
prop_ci <- list()
for (name in c("pritz1997", "props_edge")) {
  tab <- tables[[name]]
  cp <- t(mapply(function(x, n) binom.test(x, n)$conf.int, tab$events, tab$n))
  wi <- t(mapply(function(x, n) suppressWarnings(prop.test(x, n, correct = FALSE)$conf.int),
                 tab$events, tab$n))
  prop_ci[[name]] <- list(call = "binom.test(x, n)$conf.int; prop.test(x, n, correct=FALSE)$conf.int",
                          exact_low = cp[, 1], exact_high = cp[, 2],
                          wilson_low = wi[, 1], wilson_high = wi[, 2])
}

# --- GLMMs: rma.glmm (lme4, nAGQ = 7, metafor's defaults) ------------------------------
# The exact marginal log-likelihood at metafor's estimates, by integrate() over the
# random effect of each study (the full log density, binomial coefficients included).
int_ll <- function(f) sum(vapply(f, function(g) log(integrate(g, -Inf, Inf,
  rel.tol = 1e-12, abs.tol = 0, subdivisions = 1000L)$value), 0))
exact_single <- function(m, tab, mu, tau) {
  int_ll(lapply(seq_len(nrow(tab)), function(i) {
    if (m == "PLO") function(z) dbinom(tab$events[i], tab$n[i], plogis(mu + tau * z)) * dnorm(z)
    else function(z) dpois(tab$events[i], tab$time[i] * exp(mu + tau * z)) * dnorm(z)
  }))
}
exact_umfs <- function(m, tab, alpha, beta, tau) {
  int_ll(lapply(seq_len(nrow(tab)), function(i) {
    if (m == "OR") function(z)
      dbinom(tab$events_t[i], tab$n_t[i], plogis(alpha[i] + beta + tau * z / 2)) *
      dbinom(tab$events_c[i], tab$n_c[i], plogis(alpha[i] - tau * z / 2)) * dnorm(z)
    else function(z)
      dpois(tab$events_t[i], tab$time_t[i] * exp(alpha[i] + beta + tau * z / 2)) *
      dpois(tab$events_c[i], tab$time_c[i] * exp(alpha[i] - tau * z / 2)) * dnorm(z)
  }))
}
b <- dat.bcg; n7 <- dat.nielweise2007
tables$bcg <- data.frame(study = paste(b$author, b$year), events_t = b$tpos,
                         n_t = b$tpos + b$tneg, events_c = b$cpos, n_c = b$cpos + b$cneg)
tables$nielweise2007 <- data.frame(study = paste(n7$author, n7$year), events_t = n7$ai,
                                   n_t = n7$n1i, events_c = n7$ci, n_c = n7$n2i)
glmm <- list()
glmm_cases <- list(c("olfaction", "PLO"), c("pritz1997", "PLO"), c("props_edge", "PLO"),
                   c("debruin2009", "PLO"),
                   c("nielweise_t", "IRLN"), c("hart1999_c", "IRLN"), c("rates_edge", "IRLN"),
                   c("bcg", "OR"), c("nielweise2007", "OR"),
                   c("nielweise2008", "IRR"), c("hart1999", "IRR"))
for (cs in glmm_cases) {
  tab <- tables[[cs[1]]]; m <- cs[2]
  res <- suppressWarnings(switch(m,
    PLO = rma.glmm(measure = "PLO", xi = tab$events, ni = tab$n, nAGQ = 7),
    IRLN = rma.glmm(measure = "IRLN", xi = tab$events, ti = tab$time, nAGQ = 7),
    OR = rma.glmm(measure = "OR", ai = tab$events_t, n1i = tab$n_t, ci = tab$events_c,
                  n2i = tab$n_c, model = "UM.FS", nAGQ = 7, retfit = TRUE),
    IRR = rma.glmm(measure = "IRR", x1i = tab$events_t, t1i = tab$time_t,
                   x2i = tab$events_c, t2i = tab$time_c, model = "UM.FS", nAGQ = 7,
                   retfit = TRUE)))
  tau <- sqrt(res$tau2); beta <- num(res$beta)
  if (m %in% c("PLO", "IRLN")) {
    exact <- exact_single(m, tab, beta, tau)
    fe <- if (m == "PLO") glm(cbind(tab$events, tab$n - tab$events) ~ 1, family = binomial)
          else glm(tab$events ~ 1 + offset(log(tab$time)), family = poisson)
    ll_fe <- num(logLik(fe))
    call <- sprintf("rma.glmm(measure='%s', %s, nAGQ=7)", m,
                    if (m == "PLO") "xi, ni" else "xi, ti")
  } else {
    # rma.glmm drops studies without events (or, for OR, with only events) in both groups
    keep <- !(tab$events_t == 0 & tab$events_c == 0)
    if (m == "OR") keep <- keep & !(tab$events_t == tab$n_t & tab$events_c == tab$n_c)
    tk <- tab[keep, ]
    fx <- lme4::fixef(res$res.ML)
    alpha <- num(fx[-1])
    exact <- exact_umfs(m, tk, alpha, beta, tau)
    study <- factor(rep(seq_len(nrow(tk)), each = 2)); grp <- rep(c(1, 0), nrow(tk))
    fe <- if (m == "OR")
      glm(cbind(c(rbind(tk$events_t, tk$events_c)),
                c(rbind(tk$n_t - tk$events_t, tk$n_c - tk$events_c))) ~ -1 + grp + study,
          family = binomial)
    else glm(c(rbind(tk$events_t, tk$events_c)) ~ -1 + grp + study +
             offset(log(c(rbind(tk$time_t, tk$time_c)))), family = poisson)
    ll_fe <- num(logLik(fe))
    call <- sprintf("rma.glmm(measure='%s', ..., model='UM.FS', nAGQ=7)", m)
  }
  glmm[[length(glmm) + 1]] <- list(
    dataset = cs[1], measure = m, call = call, k = res$k,
    estimate = beta, se = res$se, tau2 = res$tau2, ci_low = res$ci.lb, ci_high = res$ci.ub,
    pvalue = res$pval, loglik_metafor = num(res$fit.stats["ll", "ML"]),
    loglik_exact_at_metafor = exact, loglik_fe = ll_fe,
    lrt_at_metafor = 2 * (exact - ll_fe))
}

out <- list(
  generated_by = "tests/reference/make_outcomes.R",
  metafor_version = as.character(packageVersion("metafor")),
  lme4_version = as.character(packageVersion("lme4")),
  metadat_version = as.character(packageVersion("metadat")),
  r_version = R.version.string,
  control = "rma: control=list(threshold=1e-12, maxiter=5000, tol=1e-12, stepadj=0.5)",
  tables = lapply(tables, as.list), effects = effects, fits = fits,
  proportion_ci = prop_ci, glmm = glmm)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/reference/outcomes_reference.json")
cat("wrote tests/reference/outcomes_reference.json:", length(effects), "escalc cases,",
    length(fits), "fits,", length(glmm), "GLMMs\n")
