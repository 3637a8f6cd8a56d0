module foghorn

go 1.26.8
