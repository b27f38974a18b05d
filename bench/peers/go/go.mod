module ferrite/bench/peers/go

go 1.19
