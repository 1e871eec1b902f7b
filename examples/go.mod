module git.awesomike.com/pub/waymaker-client/go/examples

go 1.26.0

require (
	git.awesomike.com/pub/waymaker-client/go v0.0.0-00010101000000-000000000000
	git.awesomike.com/pub/waymaker-client/go/server v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.85.0
)

replace (
	git.awesomike.com/pub/waymaker-client/go => ../
	git.awesomike.com/pub/waymaker-client/go/server => ../server
)
