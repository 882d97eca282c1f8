# Reference values for a whole review (tests/test_review.py, tests/test_revman.py):
# each outcome of the RevMan test files, analysed as its settings ask, by metafor.
#   MH fixed -> rma.mh; Peto fixed -> rma.peto; IV fixed -> rma(method = "FE");
#   random (RevMan 5: DerSimonian-Laird, also for MH outcomes) -> rma(method = "DL").
# Run from the repository root:  Rscript tests/reference/make_review.R
# then  python tests/reference/make_revman_files.py  writes the .rm5 files from the same data.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

studies <- data.frame(
  id = c("STD-Adams-1998", "STD-Brown-2003", "STD-Chen-2010", "STD-Diaz-2015",
         "STD-Evans-2019", "STD-Fong-2021"),
  name = c("Adams 1998", "Brown 2003", "Chen 2010", "Diaz 2015", "Evans 2019", "Fong 2021"),
  year = c("1998", "2003", "2010", "2015", "2019", "2021"))

outcomes <- list()
add <- function(key, spec, data, res, call, sub = NULL) {
  entry <- list(spec = spec, data = data, call = call,
                estimate = unname(coef(res)), se = res$se, ci_low = res$ci.lb,
                ci_high = res$ci.ub, z = res$zval, pvalue = res$pval, tau2 = res$tau2,
                q = res$QE, q_df = res$k - 1, q_pvalue = res$QEp, i2 = res$I2, k = res$k)
  if (!is.null(sub)) entry$subgroups <- sub
  outcomes[[key]] <<- entry
}

# 1.1 Death: dichotomous, M-H fixed, RR
d <- data.frame(study = studies$id[1:4], ai = c(12, 8, 20, 5), n1i = c(100, 60, 150, 45),
                ci = c(20, 10, 30, 9), n2i = c(98, 62, 148, 47))
add("CMP-001.01", list(type = "DICH", method = "MH", random = "NO", measure = "RR",
    name = "Death", comparison = "CMP-001"), d,
    rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, measure = "RR"),
    'rma.mh(ai, n1i, ci, n2i, measure = "RR")')

# 1.2 Infection: dichotomous, IV random (DL), OR, two subgroups
d <- data.frame(study = studies$id[1:5], ai = c(15, 9, 30, 7, 11), n1i = c(100, 60, 150, 45, 80),
                ci = c(25, 10, 52, 6, 21), n2i = c(98, 62, 148, 47, 79),
                subgroup = c("Adults", "Adults", "Adults", "Children", "Children"))
sub <- lapply(split(d, d$subgroup), function(s) {
  r <- rma(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = s, method = "DL")
  list(estimate = unname(coef(r)), se = r$se, tau2 = r$tau2, k = r$k)})
add("CMP-001.02", list(type = "DICH", method = "IV", random = "YES", measure = "OR",
    name = "Infection", comparison = "CMP-001"), d,
    rma(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, method = "DL"),
    'rma(measure = "OR", ai, n1i, ci, n2i, method = "DL") (and per subgroup)', sub)
# RevMan's test for subgroup differences: the subgroup estimates pooled with a fixed effect
between <- rma(yi = sapply(sub, `[[`, "estimate"), sei = sapply(sub, `[[`, "se"), method = "FE")
outcomes[["CMP-001.02"]]$subgroup_test <- list(
  call = 'rma(yi = subgroup estimates, sei = their SEs, method = "FE")',
  q = between$QE, q_df = between$k - 1, q_pvalue = between$QEp)

# 1.3 Serious adverse events: dichotomous, Peto fixed
d <- data.frame(study = studies$id[c(1, 2, 4, 6)], ai = c(3, 1, 2, 4), n1i = c(100, 60, 45, 120),
                ci = c(6, 4, 3, 9), n2i = c(98, 62, 47, 118))
add("CMP-001.03", list(type = "DICH", method = "PETO", random = "NO", measure = "PETO_OR",
    name = "Serious adverse events", comparison = "CMP-001"), d,
    rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d), 'rma.peto(ai, n1i, ci, n2i)')

# 1.4 Readmission: dichotomous, M-H random (RevMan: DL on the study effects), RD
d <- data.frame(study = studies$id[2:6], ai = c(10, 18, 6, 14, 20), n1i = c(60, 150, 45, 80, 120),
                ci = c(14, 31, 7, 15, 33), n2i = c(62, 148, 47, 79, 118))
add("CMP-001.04", list(type = "DICH", method = "MH", random = "YES", measure = "RD",
    name = "Readmission", comparison = "CMP-001"), d,
    rma(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, method = "DL"),
    'rma(measure = "RD", ai, n1i, ci, n2i, method = "DL")')

# 1.5 Length of stay (days): continuous, IV fixed, MD
d <- data.frame(study = studies$id[1:4], m1i = c(8.1, 7.4, 9.9, 6.2), sd1i = c(3.2, 2.9, 4.1, 2.2),
                n1i = c(100, 60, 150, 45), m2i = c(9.0, 8.3, 10.2, 7.5),
                sd2i = c(3.5, 3.1, 4.4, 2.6), n2i = c(98, 62, 148, 47))
add("CMP-001.05", list(type = "CONT", method = "IV", random = "NO", measure = "MD",
    name = "Length of stay", comparison = "CMP-001"), d,
    rma(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
        data = d, method = "FE"), 'rma(measure = "MD", ..., method = "FE")')

# 1.6 Pain score: continuous, IV random (DL), SMD (Hedges' g, metafor's large-sample variance)
d <- data.frame(study = studies$id[2:6], m1i = c(3.1, 4.0, 2.5, 3.7, 4.4),
                sd1i = c(1.2, 1.9, 1.1, 1.6, 2.0), n1i = c(60, 150, 45, 80, 120),
                m2i = c(3.9, 4.2, 3.4, 4.1, 5.2), sd2i = c(1.3, 2.0, 1.2, 1.5, 2.1),
                n2i = c(62, 148, 47, 79, 118))
add("CMP-001.06", list(type = "CONT", method = "IV", random = "YES", measure = "SMD",
    name = "Pain", comparison = "CMP-001"), d,
    rma(measure = "SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
        data = d, method = "DL"), 'rma(measure = "SMD", ..., method = "DL")')

# 2.1 Time to relapse: generic inverse variance, log hazard ratios, random (DL)
d <- data.frame(study = studies$id[c(1, 3, 5, 6)], yi = c(-0.22, -0.41, 0.05, -0.30),
                sei = c(0.12, 0.20, 0.15, 0.10))
add("CMP-002.01", list(type = "IV", method = "IV", random = "YES", measure = "Hazard Ratio",
    log = "YES", name = "Time to relapse", comparison = "CMP-002"), d,
    rma(yi = yi, sei = sei, data = d, method = "DL"), 'rma(yi, sei = sei, method = "DL")')

# 2.2 Survival: O - E and variance (Peto), fixed: log HR = (O - E) / V, variance 1 / V
d <- data.frame(study = studies$id[c(2, 4, 6)], oe = c(-4.2, -1.5, -6.8), v = c(18.5, 7.9, 30.2))
add("CMP-002.02", list(type = "IPD", method = "PETO", random = "NO", measure = "PETO_OR",
    name = "Survival", comparison = "CMP-002"), d,
    rma(yi = oe / v, vi = 1 / v, data = d, method = "FE"), 'rma(yi = oe/v, vi = 1/v, method = "FE")')

# 2.3 Quality of life: generic inverse variance, mean differences (linear), fixed
d <- data.frame(study = studies$id[c(1, 2, 3)], yi = c(2.1, 3.4, 1.2), sei = c(1.1, 1.6, 0.9))
add("CMP-002.03", list(type = "IV", method = "IV", random = "NO", measure = "Mean Difference",
    log = "NO", name = "Quality of life", comparison = "CMP-002"), d,
    rma(yi = yi, sei = sei, data = d, method = "FE"), 'rma(yi, sei = sei, method = "FE")')

out <- list(metafor_version = as.character(packageVersion("metafor")),
            r_version = R.version.string, studies = studies, outcomes = outcomes)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/review_reference.json")
