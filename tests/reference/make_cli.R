# Writes tests/reference/cli_reference.json: metafor's printout of three fits of the bundled
# BCG table, which `metacore analyse` lays out the same way (tests/test_cli_main.py compares
# the lines line by line; the tests never need R).
# Run from the repository root:  Rscript tests/reference/make_cli.R
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
options(width = 120, useFancyQuotes = FALSE)

bcg <- read.csv("metacore/data/datasets/bcg.csv")
dat <- escalc("RR", ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = bcg)
tight <- list(threshold = 1e-12, maxiter = 5000)
cases <- list(
  list(args = c("--measure", "RR", "--model", "random", "--tau2", "REML"),
       call = "rma(yi, vi, data = dat, method = 'REML', control = tight)",
       fit = function() rma(yi, vi, data = dat, method = "REML", control = tight)),
  list(args = c("--measure", "RR", "--model", "common"),
       call = "rma(yi, vi, data = dat, method = 'EE')",
       fit = function() rma(yi, vi, data = dat, method = "EE")),
  list(args = c("--measure", "RR", "--model", "random", "--tau2", "DL", "--ci", "hksj"),
       call = "rma(yi, vi, data = dat, method = 'DL', test = 'knha')",
       fit = function() rma(yi, vi, data = dat, method = "DL", test = "knha")))
out <- lapply(cases, function(cs) {
  res <- cs$fit()
  list(args = cs$args, call = cs$call,
       print = capture.output(print(res)),
       predict = capture.output(print(predict(res, transf = exp))))
})
write_json(list(metafor_version = as.character(packageVersion("metafor")),
                r_version = R.version.string,
                escalc = "escalc('RR', ai = events_t, n1i = n_t, ci = events_c, n2i = n_c, data = bcg)",
                cases = out),
           "tests/reference/cli_reference.json", auto_unbox = TRUE, pretty = TRUE, digits = NA)
