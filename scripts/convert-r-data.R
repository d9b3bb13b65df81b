# convert-r-data.R: converts two real station data sets shipped with R packages (spacetime's
# `air`, fields' `COmonthlyMet`) into long CSV files (one row per station x time) that the
# bsa-tnp readers and the real-data experiments (docs/real-data.md) use. Run once, from the
# repository root:  Rscript scripts/convert-r-data.R
# CI does not need R: the CSV outputs are committed.
suppressMessages({ library(spacetime); library(fields) })

fmt <- function(x, digits) ifelse(is.na(x), "", formatC(x, format = "f", digits = digits, drop0trailing = TRUE))

write_long <- function(df, path) {
  write.csv(df, path, row.names = FALSE, quote = FALSE, na = "")
  cat(sprintf("%s: %d rows, %.1f MB\n", path, nrow(df), file.size(path) / 1e6))
}

## PM10, rural background stations in Germany, daily 1998-2009 (spacetime::air).
## air is a 70 x 4383 matrix (station x day); stations an sp SpatialPoints (WGS84 lon/lat);
## dates a Date vector. Rows where PM10 is missing are dropped (51% of the station-days).
data(air)
dir.create("data/pm10-germany", recursive = TRUE, showWarnings = FALSE)
ids <- rownames(air)
xy <- stations@coords
pm <- data.frame(
  station = rep(ids, times = length(dates)),
  lon = fmt(rep(xy[, 1], times = length(dates)), 4),
  lat = fmt(rep(xy[, 2], times = length(dates)), 4),
  date = rep(format(dates, "%Y-%m-%d"), each = length(ids)),
  pm10 = as.vector(air),
  stringsAsFactors = FALSE)
pm <- pm[!is.na(pm$pm10), ]
pm$pm10 <- fmt(pm$pm10, 2)
write_long(pm, "data/pm10-germany/pm10.csv")

## Colorado monthly meteorology 1895-1997 (fields::COmonthlyMet).
## CO.tmax, CO.tmin, CO.ppt are year x month x station arrays (deg C, deg C, mm).
## Rows where all three are missing are dropped; the station name is in stations.csv
## (joined by station id) to keep the long file under 10 MB.
data(COmonthlyMet)
dir.create("data/colorado-monthly", recursive = TRUE, showWarnings = FALSE)
ny <- length(CO.years); ns <- length(CO.id)
# array order is (year, month, station): year varies fastest
co <- data.frame(
  station = rep(CO.id, each = ny * 12),
  lon = fmt(rep(CO.loc$lon, each = ny * 12), 4),
  lat = fmt(rep(CO.loc$lat, each = ny * 12), 4),
  elev = fmt(rep(CO.elev, each = ny * 12), 1),
  date = rep(sprintf("%d-%02d-01", rep(CO.years, times = 12), rep(1:12, each = ny)), times = ns),
  tmax = as.vector(CO.tmax), tmin = as.vector(CO.tmin), ppt = as.vector(CO.ppt),
  stringsAsFactors = FALSE)
stopifnot(co$tmax[(3 - 1) * ny * 12 + (5 - 1) * ny + 7] == CO.tmax[7, 5, 3] || is.na(CO.tmax[7, 5, 3]))
keep <- !(is.na(co$tmax) & is.na(co$tmin) & is.na(co$ppt))
co <- co[keep, ]
co <- co[order(co$station, co$date), ]
co$tmax <- fmt(co$tmax, 2); co$tmin <- fmt(co$tmin, 2); co$ppt <- fmt(co$ppt, 2)
write_long(co, "data/colorado-monthly/colorado-monthly.csv")
st <- data.frame(station = CO.id, name = trimws(CO.names), lon = fmt(CO.loc$lon, 4),
  lat = fmt(CO.loc$lat, 4), elev = fmt(CO.elev, 1), stringsAsFactors = FALSE)
stopifnot(!any(grepl(",", st$name)))
write_long(st, "data/colorado-monthly/stations.csv")
