# Writes tests/reference/begg_reference.json: metafor's ranktest at k = 60 and k = 200, where
# ranktest takes the exact Kendall p-value (exact = TRUE by default in metafor 3.8-1; R's
# cor.test alone would switch to the normal approximation at n >= 50), and one table with
# tied variances (normal approximation, as cor.test must).
# Beyond k = 170 R's exact Kendall distribution overflows (its counts reach k!) and
# ranktest returns NaN; there the script adds the same exact p-value computed on the
# probability scale (the distribution of the number of concordant pairs, built one study at
# a time), recorded as "pvalue_exact" beside metafor's NaN.
# Run from the repository root:  Rscript tests/reference/make_begg.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
set.seed(2023)
make <- function(k, slope) {
  vi <- runif(k, 0.005, 0.2)
  yi <- 0.1 + slope * sqrt(vi) + rnorm(k, 0, sqrt(vi))
  list(yi = yi, vi = vi)
}
# P(T <= q) for T the number of concordant pairs among n: T is a sum of independent
# uniforms on 0..i-1, i = 1..n (the inversion distribution).
pkendall_prob <- function(q, n) {
  p <- 1
  for (i in 2:n) {
    cs <- c(0, cumsum(p))
    m <- length(p) + i - 1
    j <- seq_len(m)
    p <- (cs[pmin(j, length(p)) + 1] - cs[pmax(j - i, 0) + 1]) / i
  }
  sum(p[seq_len(q + 1)])
}
exact_p <- function(yi, vi) {
  w <- 1 / vi; b <- sum(w * yi) / sum(w)
  ys <- (yi - b) / sqrt(vi - 1 / sum(w))
  n <- length(yi)
  r <- cor(ys, vi, method = "kendall")
  q <- round((r + 1) * n * (n - 1) / 4)
  p <- if (q > n * (n - 1) / 4) 1 - pkendall_prob(q - 1, n) else pkendall_prob(q, n)
  min(2 * p, 1)
}
cases <- list(k60 = make(60, 0.8), k150 = make(150, 0.2), k200 = make(200, 0.3),
              k200_null = make(200, 0))
ties <- make(60, 0.5)
ties$vi <- round(ties$vi, 2)
cases$k60_ties <- ties
out <- list(metafor_version = as.character(packageVersion("metafor")), cases = list())
for (name in names(cases)) {
  d <- cases[[name]]
  r <- suppressWarnings(ranktest(d$yi, d$vi))
  out$cases[[name]] <- list(call = "ranktest(yi, vi)", yi = d$yi, vi = d$vi,
                            tau = as.numeric(r$tau), pvalue = as.numeric(r$pval),
                            pvalue_exact = if (name == "k60_ties") NA else exact_p(d$yi, d$vi))
}
write_json(out, "tests/reference/begg_reference.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE)
