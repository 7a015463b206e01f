// Package figure holds what the bench programs share to summarise and print
// their measurements: a figure over repeated runs (its median and range),
// exact percentiles, and aligned tables with compact number formats.
//
// # Basics
//
// Every bench figure is the median of several runs, printed with its
// min–max (Of, RateSpread); percentiles are exact, from sorted samples
// (Percentile). A Table is one section of output: a title, aligned rows and
// notes.
//
// # Caveats
//
// Median expects sorted values; Of sorts a copy itself.
package figure
