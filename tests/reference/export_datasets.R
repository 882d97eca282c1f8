# Writes the bundled example tables in metacore/data/datasets/ from R's metadat package,
# in metacore's canonical columns. Run from the repository root:
#   Rscript tests/reference/export_datasets.R
suppressPackageStartupMessages(library(metafor))
out <- "metacore/datasets"
w <- function(df, name) write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE)

# BCG vaccine trials (Colditz et al. 1994): tuberculosis cases, vaccinated vs not.
b <- dat.bcg
w(data.frame(study = paste(b$author, b$year), events_t = b$tpos, n_t = b$tpos + b$tneg,
             events_c = b$cpos, n_c = b$cpos + b$cneg, subgroup = b$alloc,
             ablat = b$ablat, year = b$year), "bcg")

# Intravenous magnesium after myocardial infarction (Li et al. 2007): zero cells.
l <- dat.li2007
w(data.frame(study = paste(l$study, l$year), events_t = l$ai, n_t = l$n1i,
             events_c = l$ci, n_c = l$n2i, year = l$year), "magnesium")

# Specialist stroke care vs routine care, length of stay in days (Normand 1999).
nm <- dat.normand1999
w(data.frame(study = nm$source, mean_t = nm$m1i, sd_t = nm$sd1i, n_t = nm$n1i,
             mean_c = nm$m2i, sd_c = nm$sd2i, n_c = nm$n2i), "stroke")

# Writing-to-learn interventions (Bangert-Drowns et al. 2004): ready SMDs.
bd <- dat.bangertdrowns2004
w(data.frame(study = paste(bd$author, bd$year), yi = bd$yi, vi = bd$vi,
             subgroup = bd$subject, grade = bd$grade, length = bd$length), "writing")

# Modified school calendars (Konstantopoulos 2011): schools nested in districts, ready SMDs.
# Written by tests/reference/make_multilevel.R too; the path is metacore's current layout.
k <- dat.konstantopoulos2011
write.csv(data.frame(study = paste0("District ", k$district, ", school ", k$school),
                     district = k$district, school = k$school, year = k$year, yi = k$yi,
                     vi = k$vi),
          "metacore/data/datasets/konstantopoulos2011.csv", row.names = FALSE)
# Networks (one row per arm, for mc.network); written where the loader reads them.
net_out <- "metacore/data/datasets"
wn <- function(df, name) write.csv(df, file.path(net_out, paste0(name, ".csv")), row.names = FALSE)
# Smoking cessation, four interventions, two three-arm trials (Hasselblad 1998).
h <- dat.hasselblad1998
wn(data.frame(study = paste(h$authors, h$year), treatment = h$trt, events = h$xi,
               n = h$ni), "hasselblad1998")
# Glucose-lowering drugs, HbA1c, 26 trials of 10 treatments, one three-arm (Senn et al. 2013).
s <- dat.senn2013
wn(data.frame(study = s$study, treatment = s$treatment, mean = s$mi, sd = s$sdi, n = s$ni,
              comment = s$comment), "senn2013")
# Third round (issue 26): a single-arm proportion table and a correlation table, written
# into the data subpackage's folder.
out3 <- "metacore/data/datasets"
w3 <- function(df, name) write.csv(df, file.path(out3, paste0(name, ".csv")), row.names = FALSE)
# Olfactory dysfunction in COVID-19 (Hannum et al. 2020): patients with smell loss of all
# patients tested; 'subgroup' is how it was measured (objective test or self-report).
hn <- dat.hannum2020
w3(data.frame(study = hn$authorName, events = hn$xi, n = hn$ni, subgroup = hn$objectivity,
              country = hn$country), "olfaction")
# Validity of employment interviews (McDaniel et al. 1994): correlations of interview
# scores with job performance; 'subgroup' is the interview's content, 'structured' its form.
md <- dat.mcdaniel1994
w3(data.frame(study = paste("Study", md$study), r = md$ri, n = md$ni,
              subgroup = c(j = "job-related", p = "psychological", s = "situational")[md$type],
              structured = c(s = "structured", u = "unstructured")[md$struct]), "interviews")
